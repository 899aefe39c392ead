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

    /// <summary>Shortens text to a column width, marking the cut with an ellipsis, and removes control characters.</summary>
    /// <param name="text">The text.</param>
    /// <param name="width">The width.</param>
    /// <returns>The text, at most <paramref name="width"/> characters.</returns>
    public static string Fit(string? text, int width)
    {
        var clean = new string((text ?? string.Empty).Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return clean.Length <= width ? clean : string.Concat(clean.AsSpan(0, width - 1), "…");
    }
}
