//! A badge as SVG, in the shields.io "flat" look: the label on grey, the
//! message on its colour, rounded corners and a faint gradient, so that a
//! deadman badge sits among a README's other badges. Widths come from the
//! text, since an SVG cannot size itself to what it holds.

use std::fmt::Write as _;

use crate::text::escape_html;

/// A badge's message colour: shields.io's named colours, so the endpoint
/// JSON says the same as the SVG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Blue,
    LightGrey,
    BrightGreen,
}

impl Colour {
    /// The name shields.io's endpoint format takes.
    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Blue => "blue",
            Colour::LightGrey => "lightgrey",
            Colour::BrightGreen => "brightgreen",
        }
    }

    /// The value shields.io renders that name as.
    fn hex(self) -> &'static str {
        match self {
            Colour::Red => "#e05d44",
            Colour::Orange => "#fe7d37",
            Colour::Yellow => "#dfb317",
            Colour::Blue => "#007ec6",
            Colour::LightGrey => "#9f9f9f",
            Colour::BrightGreen => "#4c1",
        }
    }
}

/// Advance widths of ASCII ' ' to '~' at 11px, in tenths of a pixel: DejaVu
/// Sans (measured from its hmtx table), the sans-serif the badge's font
/// list falls back to where Verdana is absent, and within a few percent of
/// Verdana's. `textLength` makes a renderer fit the text to these widths
/// whatever font it picks, so they need only be close.
const WIDTHS: [u16; 95] = [
    35, 44, 51, 92, 70, 105, 86, 30, 43, 43, 55, 92, 35, 40, 35, 37, // ' '..'/'
    70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 37, 37, 92, 92, 92, 58, // '0'..'?'
    110, 75, 75, 77, 85, 70, 63, 85, 83, 32, 32, 72, 61, 95, 82, 87, // '@'..'O'
    66, 87, 76, 70, 67, 81, 75, 109, 75, 67, 75, 43, 37, 43, 92, 55, // 'P'..'_'
    55, 67, 70, 60, 70, 68, 39, 70, 70, 31, 31, 64, 31, 107, 70, 67, // '`'..'o'
    70, 70, 45, 57, 43, 70, 65, 90, 65, 65, 58, 70, 37, 70, 92, // 'p'..'~'
];

/// Any other character is taken to be as wide as '@', the widest: a badge
/// a little too wide reads better than text squeezed into one too narrow.
const FALLBACK_WIDTH: u16 = 110;

/// Horizontal padding each side of a text, in pixels.
const PADDING: u32 = 5;

/// The width of `text` at 11px, in tenths of a pixel.
pub fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| {
            let index = (c as usize).wrapping_sub(' ' as usize);
            u32::from(WIDTHS.get(index).copied().unwrap_or(FALLBACK_WIDTH))
        })
        .sum()
}

/// `text` as XML character data or a double-quoted attribute value: the
/// HTML escaping (its `&#39;` is XML too), after characters XML 1.0 cannot
/// hold at all, even escaped (controls, U+FFFE, U+FFFF), become U+FFFD, so
/// a team name with a stray control character still gives a well-formed
/// document.
pub fn escape_xml(text: &str) -> String {
    let representable: String = text
        .chars()
        .map(|c| match c {
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect();
    escape_html(&representable)
}

/// The SVG of a badge saying `label: message`.
pub fn render(label: &str, message: &str, colour: Colour) -> String {
    let label_text = text_width(label);
    let message_text = text_width(message);
    // Each side in whole pixels, so the colours meet on a pixel edge.
    let left = label_text.div_ceil(10) + 2 * PADDING;
    let right = message_text.div_ceil(10) + 2 * PADDING;
    let total = left + right;
    let title = escape_xml(&format!("{label}: {message}"));
    let mut svg = String::with_capacity(1200);
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" \
         role=\"img\" aria-label=\"{title}\"><title>{title}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" \
         stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{total}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
         <g clip-path=\"url(#r)\"><rect width=\"{left}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{colour}\"/>\
         <rect width=\"{total}\" height=\"20\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" \
         text-rendering=\"geometricPrecision\" font-size=\"110\">",
        colour = colour.hex(),
    );
    // Text is laid out at ten times the size and scaled down, as shields
    // does, so positions and lengths have a tenth-of-a-pixel precision.
    text(&mut svg, left * 5, label_text, label);
    text(&mut svg, left * 10 + right * 5, message_text, message);
    svg.push_str("</g></svg>\n");
    svg
}

/// One text centred on `x` (tenths of a pixel), over its shadow.
fn text(svg: &mut String, x: u32, length: u32, content: &str) {
    let content = escape_xml(content);
    let _ = write!(
        svg,
        "<text aria-hidden=\"true\" x=\"{x}\" y=\"150\" fill=\"#010101\" fill-opacity=\".3\" \
         transform=\"scale(.1)\" textLength=\"{length}\">{content}</text>\
         <text x=\"{x}\" y=\"140\" transform=\"scale(.1)\" fill=\"#fff\" \
         textLength=\"{length}\">{content}</text>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_text() {
        assert_eq!(text_width(""), 0);
        assert_eq!(text_width("up"), 70 + 70);
        assert_eq!(text_width("0123456789"), 700);
        assert!(text_width("failing") < text_width("running too long"));
        assert!(text_width("iiii") < text_width("mmmm"));
        // Outside ASCII: the fallback width, never a panic or zero.
        assert_eq!(text_width("é"), 110);
        assert_eq!(text_width("財務"), 220);
        assert_eq!(text_width("\u{7f}"), 110);
    }

    #[test]
    fn markup_and_forbidden_characters_are_escaped() {
        assert_eq!(
            escape_xml("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(escape_xml("a\u{1}b\u{FFFF}"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(escape_xml("ops · EU"), "ops · EU");
    }

    #[test]
    fn the_sides_are_as_wide_as_their_text_plus_padding() {
        let svg = render("orders", "up", Colour::BrightGreen);
        // "orders" is 352 tenths (36 px + 10), "up" 140 (14 px + 10).
        assert_eq!(text_width("orders"), 352);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"70\""));
        assert!(svg.contains("<rect width=\"46\" height=\"20\" fill=\"#555\"/>"));
        assert!(svg.contains("<rect x=\"46\" width=\"24\" height=\"20\" fill=\"#4c1\"/>"));
        assert!(svg.contains("<title>orders: up</title>"));
        // Centred: the label on 23 px, the message on 46 + 12 px.
        assert!(svg.contains("x=\"230\" y=\"140\" transform=\"scale(.1)\" fill=\"#fff\" textLength=\"352\">orders</text>"));
        assert!(svg.contains("x=\"580\" y=\"140\""));
        let hostile = render("<script>", "a&b", Colour::Red);
        assert!(!hostile.contains("<script>") && hostile.contains("&lt;script&gt;"));
    }
}
