//! A small element tree over quick-xml, queried by local names, shared by the XML protocols (ONVIF,
//! ISAPI). Devices disagree on prefixes (`tds:`, `ns2:`, none) and sometimes on namespaces; matching
//! local names accepts them all. Input size and depth are bounded: an answer cannot exhaust the agent.

use quick_xml::Reader;
use quick_xml::events::Event;

pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_owned()
}

impl Element {
    /// Parses a document into its root element.
    pub fn parse(xml: &[u8]) -> Result<Element, String> {
        let mut reader = Reader::from_reader(xml);
        reader.config_mut().trim_text(true);
        let mut stack: Vec<Element> = vec![Element::default()];
        let mut buf = Vec::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| format!("not well-formed XML at byte {}: {e}", reader.buffer_position()))?;
            match event {
                Event::Start(start) | Event::Empty(start) if stack.len() > MAX_DEPTH => {
                    let _ = start;
                    return Err(format!("XML nested deeper than {MAX_DEPTH} levels"));
                }
                Event::Start(start) => stack.push(Self::open(&start)),
                Event::Empty(start) => {
                    let element = Self::open(&start);
                    stack.last_mut().expect("root stays").children.push(element);
                }
                Event::End(_) => {
                    if stack.len() < 2 {
                        return Err("XML closes an element it never opened".into());
                    }
                    let done = stack.pop().expect("checked");
                    stack.last_mut().expect("root stays").children.push(done);
                }
                Event::Text(text) => {
                    stack
                        .last_mut()
                        .expect("root stays")
                        .text
                        .push_str(&text.xml10_content());
                }
                Event::CData(data) => {
                    stack
                        .last_mut()
                        .expect("root stays")
                        .text
                        .push_str(&data.xml10_content());
                }
                Event::GeneralRef(r) => {
                    // An entity split out of text (`&amp;`, `&#38;`): put its character back.
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => quick_xml::escape::unescape(&format!("&{};", r.xml10_content()))
                            .map_err(|e| format!("unknown entity in XML: {e}"))?
                            .into_owned(),
                    };
                    stack.last_mut().expect("root stays").text.push_str(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        if stack.len() != 1 {
            return Err("the XML document ends inside an element".into());
        }
        let mut top = stack.pop().expect("one left");
        top.children.pop().ok_or_else(|| "an empty XML document".to_owned())
    }

    fn open(start: &quick_xml::events::BytesStart<'_>) -> Element {
        let attributes = start
            .attributes()
            .flatten()
            .map(|a| {
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .unwrap_or_default();
                (local(a.key.as_ref()), value)
            })
            .collect();
        Element {
            name: local(start.name().as_ref()),
            attributes,
            text: String::new(),
            children: Vec::new(),
        }
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Follows a path of local names from this element.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The trimmed text at a path, if there is any.
    pub fn text_at(&self, path: &[&str]) -> Option<String> {
        let text = self.at(path)?.text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every element named `name` at any depth below this one.
    pub fn descendants<'a>(&'a self, name: &'a str) -> Box<dyn Iterator<Item = &'a Element> + 'a> {
        Box::new(self.children.iter().flat_map(move |c| {
            std::iter::once(c)
                .filter(move |c| c.name == name)
                .chain(c.descendants(name))
        }))
    }

    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a Element> {
        self.descendants(name).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_do_not_matter_and_entities_are_decoded() {
        let doc = br#"<?xml version="1.0"?><a:Envelope xmlns:a="x"><a:Body><ns2:Uri>http://h/x?a=1&amp;b=2</ns2:Uri><tt:Bounds height="1080" width="1920"/></a:Body></a:Envelope>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        assert_eq!(root.text_at(&["Body", "Uri"]).as_deref(), Some("http://h/x?a=1&b=2"));
        assert_eq!(root.first("Bounds").unwrap().attribute("width"), Some("1920"));
    }

    #[test]
    fn broken_and_hostile_documents_are_errors() {
        assert!(Element::parse(b"<a><b></a>").is_err());
        assert!(Element::parse(b"<a>").is_err());
        assert!(Element::parse(b"").is_err());
        let deep = "<a>".repeat(200) + &"</a>".repeat(200);
        assert!(Element::parse(deep.as_bytes()).unwrap_err().contains("deeper"));
    }
}
