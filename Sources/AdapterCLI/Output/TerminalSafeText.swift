/// Makes text that adapterctl did not write itself safe to show on a terminal.
///
/// Strings from adapter files (base model names, module and tensor names), from other users (task
/// names, example texts) and from the daemon (messages, notes, paths) may hold characters a terminal
/// acts on or that change how the line reads: C0 controls (ESC starts escape sequences that move
/// the cursor, recolour, retitle the window or, in some terminals, answer back; CR and BS overwrite
/// what was printed; LF forges lines), DEL, C1 controls (U+009B is an 8-bit CSI), and the bidi
/// controls U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069 (which reorder what follows), and
/// the line and paragraph separators U+2028, U+2029. Each such character is written as `\u{XX}`
/// (Swift's notation, hex digits in upper case, at least two): ESC is `\u{1B}`, U+202E `\u{202E}`.
/// Everything else, backslashes included, is kept, so escaping twice changes nothing.
///
/// Every human-readable print path of adapterctl goes through here: `TextTable` escapes its cells
/// (and measures them escaped), commands escape the values they interpolate, and `Output.printText`
/// and `printError` escape whatever reaches stdout or stderr, keeping only the line breaks that
/// adapterctl's own layout puts there. `--json` output stays exact JSON (`jsonText(_:)`).
enum TerminalSafeText {
    /// Whether a terminal may act on `scalar` or reorder text around it.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true  // C0, DEL, C1
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true  // bidi marks, embeddings, overrides, isolates
        case 0x2028, 0x2029: true  // line and paragraph separators
        default: false
        }
    }

    /// `text` with every unsafe character written as `\u{XX}`; with `keepingLineBreaks`, LF (U+000A)
    /// is kept (for whole lines adapterctl composed, whose values were escaped already).
    static func escape(_ text: String, keepingLineBreaks: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) && !(keepingLineBreaks && scalar == "\n") {
                result.append(contentsOf: notation(scalar).unicodeScalars)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// `\u{1B}` for ESC.
    static func notation(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "\\u{" + (hex.count < 2 ? "0" + hex : hex) + "}"
    }

    /// JSON text with every unsafe character that JSON allows raw inside strings (DEL, C1, bidi
    /// controls, U+2028/U+2029) written as a JSON `\uXXXX` escape: the same JSON value, safe on a
    /// terminal. C0 controls are left alone: inside strings JSON encoders escape them already, and
    /// outside strings they are the layout's line breaks and indentation.
    static func jsonText(_ json: String) -> String {
        let needsEscape: (Unicode.Scalar) -> Bool = { $0.value >= 0x7F && isUnsafe($0) }
        guard json.unicodeScalars.contains(where: needsEscape) else { return json }
        var result = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: false)
                result.append(contentsOf: ("\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex).unicodeScalars)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }
}

extension String {
    /// This text with every character a terminal acts on escaped (`TerminalSafeText.escape`).
    var terminalSafe: String { TerminalSafeText.escape(self) }
}
