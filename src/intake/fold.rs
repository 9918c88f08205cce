//! Case folding of keys (secret key fragments, did-you-mean hints) without Rust's Unicode
//! case tables in the wasm.
//!
//! `char::to_lowercase` links core's case-conversion tables: about 20 KB raw, 8.5 KB gzipped
//! of the browser wasm (docs/benchmarks.md, "Browser bundle"), for keys that are nearly always
//! ASCII. ASCII is folded here; anything else goes to the platform's full Unicode lower
//! casing: the JS engine's `toLowerCase` in wasm (which a page has anyway), Rust's
//! `str::to_lowercase` natively. Both apply the same Unicode rules (final sigma included).

/// `text` in lower case.
pub fn lower_case(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    unicode_lower_case(text)
}

#[cfg(target_arch = "wasm32")]
fn unicode_lower_case(text: &str) -> String {
    js_sys::JsString::from(text).to_lower_case().into()
}

#[cfg(not(target_arch = "wasm32"))]
fn unicode_lower_case(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_unicode_keys_fold_to_lower_case() {
        assert_eq!(lower_case("API_Key"), "api_key");
        assert_eq!(lower_case("Passwort-ÄNDERN"), "passwort-ändern");
        assert_eq!(
            lower_case("ΚΩΔΙΚΟΣ"),
            "κωδικος",
            "final sigma, as JS folds it"
        );
        assert_eq!(lower_case("ПАРОЛЬ"), "пароль");
    }
}
