//! Hikvision ISAPI (HTTP + XML, Digest login), read-only by construction: this client can send a
//! GET of a fixed path or the recording search POST, and nothing else, so camwatch cannot change
//! a recorder's settings, delete footage or reboot it.
//!
//! Three checks read from it: `retention` ([`search`]: the channels, then a paged recording
//! search per channel), `recorder_disks` ([`storage`]: `/ISAPI/ContentMgmt/Storage`) and `uptime`
//! ([`status`]: `/ISAPI/System/status`). Answers are parsed with the ONVIF element tree, by local
//! names (Hikvision uses `ver10` and `ver20` namespaces, sometimes none).

pub mod search;
pub mod status;
pub mod storage;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::http::HttpClients;
use super::xml::Element;
use super::{Login, ProbeContext, ProbeError, ProbeErrorKind, Transcript};
use crate::config::IsapiSpec;

/// A search page of 50 matches is about 40 KiB; no ISAPI answer camwatch reads comes near this.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// What this client can send. There is no variant that changes anything.
#[derive(Debug, Clone, Copy)]
enum Request<'a> {
    Get(&'static str),
    /// `POST /ISAPI/ContentMgmt/search`: a query, despite the method.
    Search(&'a str),
}

impl Request<'_> {
    fn path(&self) -> &'static str {
        match self {
            Self::Get(path) => path,
            Self::Search(_) => "/ISAPI/ContentMgmt/search",
        }
    }
}

/// The recorder said no in ISAPI's own words (`<ResponseStatus>`), or with a bare HTTP status.
struct Refusal {
    status: u16,
    text: String,
}

/// Runs `read` against the recorder with a client logged in as the device (the one way every
/// ISAPI check starts).
pub(crate) async fn with_client<T>(
    http: &HttpClients,
    spec: &IsapiSpec,
    ctx: &mut ProbeContext<'_>,
    read: impl AsyncFnOnce(&mut Client<'_>) -> Result<T, ProbeError>,
) -> Result<T, ProbeError> {
    let login = ctx.login()?;
    let mut client = Client::new(http, spec, login.as_ref(), ctx.transcript);
    read(&mut client).await
}

pub struct Client<'a> {
    http: &'a HttpClients,
    spec: &'a IsapiSpec,
    login: Option<&'a Login>,
    pub transcript: &'a mut Transcript,
}

impl<'a> Client<'a> {
    pub fn new(
        http: &'a HttpClients,
        spec: &'a IsapiSpec,
        login: Option<&'a Login>,
        transcript: &'a mut Transcript,
    ) -> Self {
        Self {
            http,
            spec,
            login,
            transcript,
        }
    }

    /// The recorder, as people name it in messages.
    pub fn host(&self) -> &str {
        &self.spec.host
    }

    async fn fetch(&mut self, request: Request<'_>) -> Result<Result<Element, Refusal>, ProbeError> {
        let url = format!("{}{}", self.spec.base_url, request.path());
        let (method, body, mut headers) = match request {
            Request::Get(_) => (reqwest::Method::GET, None, HeaderMap::new()),
            Request::Search(body) => {
                let mut headers = HeaderMap::new();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=UTF-8"));
                (reqwest::Method::POST, Some(body.as_bytes().to_vec()), headers)
            }
        };
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/xml"));
        let reply = self
            .http
            .send(
                method,
                &url,
                headers,
                body,
                self.login,
                &crate::probe::tls::Trust::from(&self.spec.trust),
                MAX_ANSWER_BYTES,
                self.transcript,
            )
            .await?;
        let path = request.path();
        if reply.status == 401 {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                match self.login {
                    Some(login) => format!(
                        "{} refused the login of user {:?} (HTTP 401 to {path}): check username and password",
                        self.spec.host, login.user
                    ),
                    None => format!(
                        "{} wants a login (HTTP 401 to {path}): set username and password_env",
                        self.spec.host
                    ),
                },
            ));
        }
        let document = Element::parse(&reply.body);
        match (reply.status, document) {
            (200, Ok(doc)) if doc.name != "ResponseStatus" => Ok(Ok(doc)),
            (status, Ok(doc)) if doc.name == "ResponseStatus" => {
                let said = [doc.text_at(&["statusString"]), doc.text_at(&["subStatusCode"])]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
                self.transcript.note(|| format!("  ISAPI ResponseStatus: {said}"));
                Ok(Err(Refusal {
                    status,
                    text: format!("HTTP {status}: {said}"),
                }))
            }
            (200, Err(why)) => Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "{} answered {path} with something that is not ISAPI XML ({why})",
                    self.spec.host
                ),
            )),
            (status, _) => Ok(Err(Refusal {
                status,
                text: format!("HTTP {status}"),
            })),
        }
    }

    fn refused(&self, path: &str, refusal: Refusal) -> ProbeError {
        let hint = match refusal.status {
            403 => ": the user may lack the right for it, or the device does not offer it",
            404 => ": this device does not offer it (is it a Hikvision recorder, and the port its web port?)",
            _ => "",
        };
        ProbeError::new(
            ProbeErrorKind::Device,
            format!("{} refused {path} ({}){hint}", self.spec.host, refusal.text),
        )
    }

    /// A GET whose answer must be `root`.
    pub async fn get(&mut self, path: &'static str, root: &str) -> Result<Element, ProbeError> {
        match self.fetch(Request::Get(path)).await? {
            Ok(doc) => self.expect(doc, path, root),
            Err(refusal) => Err(self.refused(path, refusal)),
        }
    }

    /// A GET the device may not offer (404, or an ISAPI refusal): None then.
    pub async fn get_optional(&mut self, path: &'static str, root: &str) -> Result<Option<Element>, ProbeError> {
        match self.fetch(Request::Get(path)).await? {
            Ok(doc) => self.expect(doc, path, root).map(Some),
            Err(refusal) => {
                self.transcript
                    .note(|| format!("  {path} is not offered ({})", refusal.text));
                Ok(None)
            }
        }
    }

    /// One page of the recording search.
    pub async fn search(&mut self, body: &str) -> Result<Element, ProbeError> {
        let request = Request::Search(body);
        match self.fetch(request).await? {
            Ok(doc) => self.expect(doc, request.path(), "CMSearchResult"),
            Err(refusal) => Err(self.refused(request.path(), refusal)),
        }
    }

    fn expect(&self, doc: Element, path: &str, root: &str) -> Result<Element, ProbeError> {
        if doc.name == root {
            Ok(doc)
        } else {
            Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "{} answered {path} with <{}>, not the <{root}> ISAPI defines",
                    self.spec.host, doc.name
                ),
            ))
        }
    }
}

/// A number the device sent as text; None when absent or not a number.
pub(crate) fn number<T: std::str::FromStr>(element: &Element, path: &[&str]) -> Option<T> {
    element.text_at(path)?.parse().ok()
}
