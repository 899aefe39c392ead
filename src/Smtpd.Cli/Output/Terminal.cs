namespace Smtpd.Cli.Output;

/// <summary>ANSI colour, used only when stdout is a terminal and the user has not asked for none.</summary>
internal static class Terminal
{
    /// <summary>
    /// Whether to colour stdout: a terminal, no <c>NO_COLOR</c> (no-color.org) and a <c>TERM</c> other than
    /// <c>dumb</c>. Redirected output, as tests and pipes see it, is never coloured.
    /// </summary>
    public static bool UseColour { get; } = !Console.IsOutputRedirected
        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
        && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    public static string Dim(string text) => Wrap("2", text);

    public static string Bold(string text) => Wrap("1", text);

    public static string Cyan(string text) => Wrap("36", text);

    public static string Green(string text) => Wrap("32", text);

    public static string Yellow(string text) => Wrap("33", text);

    private static string Wrap(string code, string text) => UseColour ? $"\u001b[{code}m{text}\u001b[0m" : text;

    /// <summary>Formats a size the way people read it: 512 B, 1.2 KiB, 3.4 MiB.</summary>
    /// <param name="size">Octets.</param>
    /// <returns>The text.</returns>
    public static string Size(long size) => size switch
    {
        < 1024 => $"{size} B",
        < 1024 * 1024 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{size / 1024.0:0.#} KiB"),
        < 1024L * 1024 * 1024 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{size / (1024.0 * 1024):0.#} MiB"),
        _ => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{size / (1024.0 * 1024 * 1024):0.##} GiB"),
    };

    /// <summary>
    /// Fits text to a column: control characters become spaces, text wider than <paramref name="width"/> terminal
    /// cells is cut at a whole text element and marked with an ellipsis, and narrower text is padded with spaces, so
    /// that columns stay aligned whatever the script (see <see cref="DisplayWidth.Of(string)"/>).
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="width">The column width in terminal cells.</param>
    /// <returns>The text, exactly <paramref name="width"/> cells wide.</returns>
    public static string Fit(string? text, int width)
    {
        var shortened = Shorten(text, width);
        return shortened + new string(' ', width - DisplayWidth.Of(shortened));
    }

    /// <summary>
    /// Like <see cref="Fit"/> without the padding: at most <paramref name="width"/> terminal cells, for a line that
    /// is not a table.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="width">The most terminal cells.</param>
    /// <returns>The text, control characters replaced, cut with an ellipsis if it was wider.</returns>
    public static string Shorten(string? text, int width)
    {
        var clean = Printable(text ?? string.Empty, keepNewLines: false);
        if (DisplayWidth.Of(clean) <= width)
        {
            return clean;
        }

        var cut = new System.Text.StringBuilder();
        var used = 0;
        var elements = System.Globalization.StringInfo.GetTextElementEnumerator(clean);
        while (elements.MoveNext())
        {
            var element = elements.GetTextElement();
            var elementWidth = DisplayWidth.Of(element);
            if (used + elementWidth > width - 1)
            {
                break;
            }

            cut.Append(element);
            used += elementWidth;
        }

        return cut.Append('…').ToString();
    }

    /// <summary>
    /// Replaces control characters, which a hostile message could use to drive the terminal (escape sequences), with
    /// U+FFFD (a space on one line); tabs and line ends stay in a body (<paramref name="keepNewLines"/>).
    /// </summary>
    /// <param name="text">Text from a message.</param>
    /// <param name="keepNewLines">Whether LF (and CR before it) are kept, for a body.</param>
    /// <returns>The text, safe to print.</returns>
    public static string Printable(string text, bool keepNewLines)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if (char.IsControl(c) && !(keepNewLines && (c is '\t' or '\n' || (c == '\r' && i + 1 < chars.Length && chars[i + 1] == '\n'))))
            {
                chars[i] = keepNewLines ? '\uFFFD' : ' ';
            }
        }

        return new string(chars);
    }

    /// <summary>
    /// A time as <c>list</c> and <c>show</c> print it: local time with its offset from UTC, to the second
    /// (<c>2025-01-31 15:00:00 +01:00</c>), so the same instant reads the same in both.
    /// </summary>
    /// <param name="time">The time.</param>
    /// <returns>The text.</returns>
    public static string Time(DateTimeOffset time) =>
        time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", System.Globalization.CultureInfo.InvariantCulture);
}
