//! [`string_enum!`]: a closed set of names that appear in config, URLs,
//! labels or the store, each spelled once.
//!
//! Hand-written `as_str`/`parse`/`ALL` triples drift apart (a variant added
//! to one match and not the other); here the spelling is declared beside the
//! variant and the three are generated together.

/// Declares a fieldless enum whose variants each have one text spelling,
/// with `ALL` (declaration order), `COUNT`, `as_str`, `parse`, `index`
/// (position in `ALL`, for per-variant counter arrays) and `Display`.
///
/// ```
/// deadman::string_enum! {
///     /// A colour.
///     pub enum Colour { Red = "red", DarkBlue = "dark_blue" }
/// }
/// assert_eq!(Colour::parse("dark_blue"), Some(Colour::DarkBlue));
/// assert_eq!(Colour::Red.to_string(), "red");
/// assert_eq!(Colour::COUNT, 2);
/// ```
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($name::$variant),+].len()] = [$($name::$variant),+];
            /// How many variants there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The variant's one spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant spelled `text`, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Position in [`Self::ALL`], for per-variant counter arrays.
            pub fn index(self) -> usize {
                self as usize
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::string_enum! {
        enum Sample { First = "first", Second = "second" }
    }

    #[test]
    fn spellings_round_trip_in_order() {
        assert_eq!(Sample::ALL, [Sample::First, Sample::Second]);
        for value in Sample::ALL {
            assert_eq!(Sample::parse(value.as_str()), Some(value));
        }
        assert_eq!(Sample::parse("third"), None);
        assert_eq!(Sample::Second.index(), 1);
        assert_eq!(Sample::COUNT, 2);
    }
}
