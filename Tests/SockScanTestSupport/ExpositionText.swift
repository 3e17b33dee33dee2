import Foundation

/// The samples of an exposition (either format), parsed back for comparisons: `name{a="x",b="y"}` (labels
/// sorted, values unescaped) to value. Comment lines are collected apart.
public struct ExpositionText {
    /// `name{labels}` to value.
    public var samples: [String: Double] = [:]
    /// `# TYPE`, `# HELP`, `# UNIT` and `# EOF` lines, in order.
    public var comments: [String] = []
    /// Every line, in order.
    public var lines: [String] = []

    /// Parses `text`.
    ///
    /// - Throws: ``ParseFailure`` for a line that is not a sample, or a sample given twice.
    public init(_ text: String) throws {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            lines.append(line)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                comments.append(line)
                continue
            }
            let (key, value) = try Self.parseSample(line)
            if samples[key] != nil { throw ParseFailure("duplicate sample \(key)") }
            samples[key] = value
        }
    }

    /// The value of `name` with exactly `labels`.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[Self.key(name, labels)]
    }

    /// The samples of `name` (any labels).
    public func samples(named name: String) -> [String: Double] {
        samples.filter { $0.key == name || $0.key.hasPrefix(name + "{") }
    }

    /// The key of `name` with `labels` in ``samples``.
    public static func key(_ name: String, _ labels: [String: String]) -> String {
        if labels.isEmpty { return name }
        return name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
            + "}"
    }

    /// One sample line as its key and value.
    public static func parseSample(_ line: String) throws -> (String, Double) {
        let chars = Array(line)
        var i = 0
        var name = ""
        while i < chars.count, chars[i] != "{", chars[i] != " " {
            name.append(chars[i])
            i += 1
        }
        var labels: [String: String] = [:]
        if i < chars.count, chars[i] == "{" {
            i += 1
            while i < chars.count, chars[i] != "}" {
                var label = ""
                while i < chars.count, chars[i] != "=" {
                    label.append(chars[i])
                    i += 1
                }
                guard i + 1 < chars.count, chars[i + 1] == "\"" else { throw ParseFailure("bad label in \(line)") }
                i += 2
                var value = ""
                while i < chars.count, chars[i] != "\"" {
                    if chars[i] == "\\", i + 1 < chars.count {
                        i += 1
                        value.append(chars[i] == "n" ? "\n" : chars[i])
                    } else {
                        value.append(chars[i])
                    }
                    i += 1
                }
                guard i < chars.count else { throw ParseFailure("unterminated label value in \(line)") }
                i += 1
                labels[label] = value
                if i < chars.count, chars[i] == "," { i += 1 }
            }
            i += 1
        }
        guard i < chars.count, chars[i] == " " else { throw ParseFailure("no value in \(line)") }
        let valueText = String(chars[(i + 1)...])
        guard let value = Double(valueText == "+Inf" ? "inf" : valueText == "-Inf" ? "-inf" : valueText) else {
            throw ParseFailure("bad value '\(valueText)' in \(line)")
        }
        return (key(name, labels), value)
    }
}

/// A line of an exposition that does not parse.
public struct ParseFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
