//! When two nicknames are "the same": when a reader could not tell them apart.
//!
//! Comparing the strings is not enough. `가` can be one code point (the precomposed syllable) or
//! two (the conjoining jamo `ᄀ` + `ᅡ`); Cyrillic `е` looks exactly like Latin `e`; fullwidth
//! `ｂｏｂ` is `bob` in a wide font; `STRASSE` is `straße` in capitals. Anyone could pose as a
//! member with such a twin. So every nickname gets a *skeleton* (Unicode's UTS #39 recipe), and
//! two nicknames with the same skeleton cannot be in the chat at once:
//! 1. NFKC normalisation: composes jamo into syllables, turns fullwidth and other compatibility
//!    forms into the ordinary letters;
//! 2. case folding: upper-casing then lower-casing, so `ß` becomes `ss` like `SS` does;
//! 3. the confusables skeleton: maps every character to the one it is mistaken for (`е` → `e`,
//!    `1` → `l`, `rn` → `m`'s skeleton) from Unicode's `confusables.txt`;
//! 4. no marks that sit on a letter: `aliceͅ` (with U+0345, a tiny iota under the `e`) is
//!    `alice` to a reader, and so is `alicé`. These marks are removed before the case folding
//!    (which would turn U+0345 into a letter `ι`) and again from the skeleton (which spells `é`
//!    as `e` + U+0301). Spacing vowel signs (Devanagari `ि`) are letters' parts and stay.
//!
//! Distinct Korean names stay distinct: `민지` and `철수` have different skeletons.

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton as confusable_skeleton;

/// The form of `nick` that look-alikes share. Compare these, show the nickname itself.
pub fn skeleton(nick: &str) -> String {
    let normalized: String = without_marks(nick.nfkc());
    // Rust has no full case folding; upper then lower gives it for everything a nickname may
    // hold (the upper-casing is what turns `ß` into `SS`).
    let folded = normalized.to_uppercase().to_lowercase();
    without_marks(confusable_skeleton(&folded))
}

/// Drops the combining marks that sit on the character before them (a nonzero combining class:
/// accents, dots, hooks, subscripts).
fn without_marks(chars: impl Iterator<Item = char>) -> String {
    chars.filter(|&c| canonical_combining_class(c) == 0).collect()
}

#[cfg(test)]
mod tests {
    use super::skeleton;

    fn same(a: &str, b: &str) -> bool {
        skeleton(a) == skeleton(b)
    }

    #[test]
    fn capitals_and_sharp_s_collide() {
        assert!(same("Alice", "alice"));
        assert!(same("STRASSE2", "straße2"));
    }

    #[test]
    fn hangul_jamo_and_precomposed_syllables_collide() {
        assert!(same("\u{1100}\u{1161}", "가"));
        assert!(same("\u{1106}\u{1175}\u{11AB}\u{110C}\u{1175}", "민지"));
    }

    #[test]
    fn cyrillic_and_latin_look_alikes_collide() {
        assert!(same("\u{0430}lic\u{0435}", "alice")); // Cyrillic а and е
        assert!(same("p\u{0430}ypal", "PAYPAL"));
    }

    #[test]
    fn fullwidth_letters_collide() {
        assert!(same("ｂｏｂ", "bob"));
        assert!(same("ＢＯＢ１", "bob1"));
    }

    #[test]
    fn marks_that_sit_on_a_letter_do_not_make_a_new_name() {
        assert!(same("alice\u{0345}", "alice")); // a subscript iota under the e
        assert!(same("ali\u{0345}ce", "ALICE"));
        assert!(same("alicé", "alice"));
        assert!(same("a\u{0345}\u{0345}\u{0345}", "a"));
    }

    #[test]
    fn ordinary_names_stay_distinct() {
        for (a, b) in [
            ("민지", "철수"),
            ("김철수", "철수"),
            ("민지", "민수"),
            ("alice", "alicia"),
            ("bob", "bob2"),
            ("कि", "क"),
        ] {
            assert!(!same(a, b), "{a} and {b} collide");
        }
    }
}
