//! The ground floor: words and helpers every layer shares, importing nothing of camwatch, so any
//! module may use them without reaching up (see `tests/layers.rs`).

pub mod event;
pub mod severity;
pub mod text;
pub mod time;
pub mod urls;

pub use event::EventKind;
pub use severity::Severity;
pub use time::{local_time, unix_now};

/// An enum of names that never change once released (stored, exported as labels), with `ALL`,
/// `as_str` and `parse` generated from the one list of variants: a variant added to the enum
/// is in `ALL` by construction, so nothing that walks `ALL` (resuming saved states, parsing
/// stored rows) can silently drop it.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;
