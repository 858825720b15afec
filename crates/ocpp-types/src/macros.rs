//! Declarative helper for OCPP string enumerations.

/// Defines a string enumeration with its exact wire spellings.
///
/// Every variant gets `#[serde(rename = "<wire>")]`, so the Rust identifier may
/// differ from the schema spelling (`"L1-N"`, `"Energy.Active.Import.Register"`).
/// The generated `ALL` constant lists the values in schema order, `as_str`
/// returns the wire spelling, and `Display` prints it.
macro_rules! ocpp_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $wire:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
        )]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl $name {
            /// Every value of this enumeration, in the order the schema lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The exact spelling of this value on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
