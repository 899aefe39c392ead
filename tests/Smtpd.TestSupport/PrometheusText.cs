using System.Globalization;
using System.Text;

namespace Smtpd.TestSupport;

/// <summary>One sample line: the metric name as written, its labels, its value and its optional timestamp.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value, long? Timestamp);

/// <summary>A metric family: the <c># HELP</c> and <c># TYPE</c> of a name, and its samples.</summary>
public sealed record PrometheusFamily(string Name, string? Help, string Type, IReadOnlyList<PrometheusSample> Samples);

/// <summary>
/// A strict parser of the Prometheus text exposition format 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), for tests of <c>/metrics</c>:
/// it refuses what Prometheus refuses and also what the format says must not happen (a second TYPE or HELP for a
/// name, a TYPE after the name's samples, a family's samples split by another's, a repeated series, a missing final
/// line feed), so a test that parses a scrape proves the scrape is well formed.
/// </summary>
public static class PrometheusText
{
    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    /// <summary>Parses a whole exposition.</summary>
    /// <exception cref="FormatException">The text breaks the format; the message names the line.</exception>
    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > 0 && text[^1] != '\n')
        {
            throw new FormatException("the last line must end with a line feed");
        }

        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new Dictionary<string, List<PrometheusSample>>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        var order = new List<string>();
        string? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i];
            var where = $"line {i + 1}";
            if (line.Contains('\r', StringComparison.Ordinal))
            {
                throw new FormatException($"{where}: lines end with LF only");
            }

            if (line.Trim(' ', '\t').Length == 0)
            {
                continue;
            }

            if (line[0] == '#')
            {
                var fields = line[1..].TrimStart(' ', '\t');
                var keyword = fields.StartsWith("HELP ", StringComparison.Ordinal) ? "HELP" : fields.StartsWith("TYPE ", StringComparison.Ordinal) ? "TYPE" : null;
                if (keyword is null)
                {
                    continue; // a comment
                }

                var rest = fields[5..].TrimStart(' ', '\t');
                var space = rest.IndexOfAny([' ', '\t']);
                var name = space < 0 ? rest : rest[..space];
                var value = space < 0 ? string.Empty : rest[(space + 1)..];
                CheckMetricName(name, where);
                if (keyword == "HELP")
                {
                    if (!help.TryAdd(name, Unescape(value, quotes: false, where)))
                    {
                        throw new FormatException($"{where}: a second HELP for {name}");
                    }
                }
                else
                {
                    value = value.Trim(' ', '\t');
                    if (!Types.Contains(value))
                    {
                        throw new FormatException($"{where}: unknown type '{value}'");
                    }

                    if (samples.ContainsKey(name))
                    {
                        throw new FormatException($"{where}: TYPE for {name} after its samples");
                    }

                    if (!types.TryAdd(name, value))
                    {
                        throw new FormatException($"{where}: a second TYPE for {name}");
                    }
                }

                continue;
            }

            var sample = ParseSample(line, where);
            var owner = FamilyOf(sample.Name, types);
            if (owner != current)
            {
                if (samples.ContainsKey(owner))
                {
                    throw new FormatException($"{where}: the samples of {owner} are not together");
                }

                current = owner;
                order.Add(owner);
                samples[owner] = [];
            }

            var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}";
            if (!series.Add(key))
            {
                throw new FormatException($"{where}: the series {key} appears twice");
            }

            if (types.GetValueOrDefault(owner) == "counter" && (sample.Value < 0 || double.IsNaN(sample.Value)))
            {
                throw new FormatException($"{where}: a counter cannot be {sample.Value}");
            }

            samples[owner].Add(sample);
        }

        var families = new Dictionary<string, PrometheusFamily>(StringComparer.Ordinal);
        foreach (var name in types.Keys.Concat(help.Keys).Concat(order).Distinct())
        {
            families[name] = new PrometheusFamily(name, help.GetValueOrDefault(name), types.GetValueOrDefault(name, "untyped"), samples.GetValueOrDefault(name) ?? []);
        }

        return families;
    }

    /// <summary>The value of the one sample of <paramref name="family"/> with exactly these labels.</summary>
    /// <exception cref="KeyNotFoundException">No such family or series.</exception>
    public static double Value(this IReadOnlyDictionary<string, PrometheusFamily> families, string family, params (string Name, string Value)[] labels)
    {
        ArgumentNullException.ThrowIfNull(families);
        ArgumentNullException.ThrowIfNull(labels);
        if (!families.TryGetValue(family, out var found))
        {
            throw new KeyNotFoundException($"no metric {family}");
        }

        var match = found.Samples.Where(s => s.Labels.Count == labels.Length && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).ToList();
        return match.Count == 1 ? match[0].Value : throw new KeyNotFoundException($"{family} has {match.Count} series with labels {string.Join(",", labels)}");
    }

    /// <summary>The family a sample belongs to: its own name, or a histogram's or summary's for the _bucket, _sum and _count lines.</summary>
    private static string FamilyOf(string name, Dictionary<string, string> types)
    {
        foreach (var suffix in (ReadOnlySpan<string>)["_bucket", "_sum", "_count"])
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(name[..^suffix.Length], out var type)
                && (type == "histogram" || (type == "summary" && suffix != "_bucket")))
            {
                return name[..^suffix.Length];
            }
        }

        return name;
    }

    private static PrometheusSample ParseSample(string line, string where)
    {
        var i = 0;
        while (i < line.Length && IsNameChar(line[i], i == 0, colon: true))
        {
            i++;
        }

        var name = line[..i];
        CheckMetricName(name, where);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                if (i < line.Length && line[i] == '}')
                {
                    i++;
                    break;
                }

                var start = i;
                while (i < line.Length && IsNameChar(line[i], i == start, colon: false))
                {
                    i++;
                }

                var label = line[start..i];
                if (label.Length == 0)
                {
                    throw new FormatException($"{where}: a label name is missing or has a bad character at column {i + 1}");
                }

                if (label.StartsWith("__", StringComparison.Ordinal))
                {
                    throw new FormatException($"{where}: label names starting with __ are reserved ({label})");
                }

                if (i + 1 >= line.Length || line[i] != '=' || line[i + 1] != '"')
                {
                    throw new FormatException($"{where}: expected =\" after the label {label}");
                }

                i += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= line.Length)
                    {
                        throw new FormatException($"{where}: the value of {label} is not closed");
                    }

                    var c = line[i++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        if (i >= line.Length)
                        {
                            throw new FormatException($"{where}: a backslash ends the line");
                        }

                        value.Append(line[i++] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            var other => throw new FormatException($"{where}: the escape \\{other} is not allowed in a label value"),
                        });
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                if (!labels.TryAdd(label, value.ToString()))
                {
                    throw new FormatException($"{where}: the label {label} appears twice");
                }

                if (i < line.Length && line[i] == ',')
                {
                    i++;
                }
                else if (i >= line.Length || line[i] != '}')
                {
                    throw new FormatException($"{where}: expected , or }} after the value of {label}");
                }
            }
        }

        if (i >= line.Length || (line[i] != ' ' && line[i] != '\t'))
        {
            throw new FormatException($"{where}: expected a blank before the value");
        }

        var tokens = line[i..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (tokens.Length is < 1 or > 2)
        {
            throw new FormatException($"{where}: expected a value and at most a timestamp");
        }

        var number = ParseValue(tokens[0], where);
        long? timestamp = null;
        if (tokens.Length == 2)
        {
            timestamp = long.TryParse(tokens[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var t)
                ? t
                : throw new FormatException($"{where}: the timestamp '{tokens[1]}' is not an integer");
        }

        return new PrometheusSample(name, labels, number, timestamp);
    }

    /// <summary>A value as Go's ParseFloat reads it: decimal or exponent notation, NaN, +Inf and -Inf.</summary>
    private static double ParseValue(string token, string where)
    {
        switch (token)
        {
            case "NaN":
                return double.NaN;
            case "+Inf":
            case "Inf":
                return double.PositiveInfinity;
            case "-Inf":
                return double.NegativeInfinity;
        }

        // Digits, sign, point and exponent only: no thousands separators, no hex, no spaces.
        foreach (var c in token)
        {
            if (!char.IsAsciiDigit(c) && c is not ('+' or '-' or '.' or 'e' or 'E'))
            {
                throw new FormatException($"{where}: '{token}' is not a number");
            }
        }

        return double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"{where}: '{token}' is not a number");
    }

    private static void CheckMetricName(string name, string where)
    {
        if (name.Length == 0)
        {
            throw new FormatException($"{where}: a metric name is missing");
        }

        for (var i = 0; i < name.Length; i++)
        {
            if (!IsNameChar(name[i], i == 0, colon: true))
            {
                throw new FormatException($"{where}: '{name}' is not a metric name");
            }
        }
    }

    /// <summary>Metric names are <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>; label names <c>[a-zA-Z_][a-zA-Z0-9_]*</c>.</summary>
    private static bool IsNameChar(char c, bool first, bool colon) =>
        char.IsAsciiLetter(c) || c == '_' || (colon && c == ':') || (!first && char.IsAsciiDigit(c));

    /// <summary>HELP text allows <c>\\</c> and <c>\n</c>; a label value also <c>\"</c>.</summary>
    private static string Unescape(string text, bool quotes, string where)
    {
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                result.Append(text[i]);
                continue;
            }

            if (++i >= text.Length)
            {
                throw new FormatException($"{where}: a backslash ends the line");
            }

            result.Append(text[i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                '"' when quotes => '"',
                var other => throw new FormatException($"{where}: the escape \\{other} is not allowed here"),
            });
        }

        return result.ToString();
    }
}
