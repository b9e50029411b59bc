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
//!    `1` → `l`, `rn` → `m`'s skeleton) from Unicode's `confusables.txt`.
//!
//! Distinct Korean names stay distinct: `민지` and `철수` have different skeletons.

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton as confusable_skeleton;

/// The form of `nick` that look-alikes share. Compare these, show the nickname itself.
pub fn skeleton(nick: &str) -> String {
    let normalized: String = nick.nfkc().collect();
    // Rust has no full case folding; upper then lower gives it for everything a nickname may
    // hold (the upper-casing is what turns `ß` into `SS`).
    let folded = normalized.to_uppercase().to_lowercase();
    confusable_skeleton(&folded).collect()
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
    fn ordinary_names_stay_distinct() {
        for (a, b) in
            [("민지", "철수"), ("김철수", "철수"), ("민지", "민수"), ("alice", "alicia"), ("bob", "bob2")]
        {
            assert!(!same(a, b), "{a} and {b} collide");
        }
    }
}
