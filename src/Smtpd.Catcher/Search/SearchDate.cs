using System.Globalization;

namespace Smtpd.Catcher.Search;

/// <summary>
/// The date of a <c>before:</c> or <c>after:</c> term as written: a calendar date, an optional time of day and an
/// optional UTC offset. Without an offset it is a wall-clock time in the caller's time zone (Mailpit's <c>tz</c>
/// parameter), resolved by <see cref="ToUtc"/>, so one parsed query can be compiled for any zone.
/// </summary>
/// <param name="Local">The date and time as written (<see cref="DateTimeKind.Unspecified"/>).</param>
/// <param name="Offset">The UTC offset written after the time (<c>Z</c>, <c>+02:00</c>), if any.</param>
internal sealed record SearchDate(DateTime Local, TimeSpan? Offset)
{
    /// <summary>The formats named in a syntax error and in docs/search.md.</summary>
    public const string Expected = "YYYY-MM-DD, YYYY/MM/DD or MM/DD/YYYY, optionally with a time HH:MM[:SS] and Z or +HH:MM";

    // Mailpit hands its dates to a general date parser (araddon/dateparse); these are the forms its documentation
    // shows, and the ISO 8601 forms a test suite writes. A date with slashes and the year last is the US order, as
    // Mailpit reads it. "M" and "d" take one or two digits when parsing.
    private static readonly string[] DateFormats = ["yyyy-M-d", "yyyy/M/d", "M/d/yyyy"];
    private static readonly string[] TimeFormats = ["", "'T'H:mm", "'T'H:mm:ss", "'T'H:mm:ss.FFFFFFF", " H:mm", " H:mm:ss", " H:mm:ss.FFFFFFF"];
    private static readonly string[] LocalFormats = [.. DateFormats.SelectMany(d => TimeFormats.Select(t => d + t))];
    private static readonly string[] OffsetFormats = [.. DateFormats.SelectMany(d => TimeFormats.Skip(1).Select(t => d + t + "zzz"))];

    /// <summary>Reads a date in one of the <see cref="Expected"/> forms.</summary>
    /// <param name="text">The value after <c>before:</c> or <c>after:</c>, quotes removed.</param>
    /// <param name="date">The date.</param>
    /// <returns>Whether <paramref name="text"/> is a date.</returns>
    public static bool TryParse(string text, out SearchDate date)
    {
        // Letter case is free (2024-04-01t10:00z), as in Mailpit, which upper-cases the value.
        var value = text.Trim().ToUpperInvariant();
        date = null!;
        if (value.Length is 0 or > 40)
        {
            return false;
        }

        if (value[^1] == 'Z'
            && DateTime.TryParseExact(value[..^1], LocalFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var utc))
        {
            date = new SearchDate(utc, TimeSpan.Zero);
            return true;
        }

        if (DateTime.TryParseExact(value, LocalFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            date = new SearchDate(local, null);
            return true;
        }

        if (DateTimeOffset.TryParseExact(value, OffsetFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var zoned))
        {
            date = new SearchDate(zoned.DateTime, zoned.Offset);
            return true;
        }

        return false;
    }

    /// <summary>
    /// The instant this date names: with its own offset if it has one, otherwise as a wall-clock time in
    /// <paramref name="timeZone"/>. A time skipped or repeated by a daylight-saving change takes the zone's standard
    /// offset (<see cref="TimeZoneInfo.GetUtcOffset(DateTime)"/>). An instant beyond year 1 or 9999 is clamped there.
    /// </summary>
    /// <param name="timeZone">The caller's time zone.</param>
    /// <returns>The instant, in UTC.</returns>
    public DateTimeOffset ToUtc(TimeZoneInfo timeZone)
    {
        var offset = Offset ?? timeZone.GetUtcOffset(Local);
        var ticks = Local.Ticks - offset.Ticks;
        return ticks < DateTime.MinValue.Ticks ? DateTimeOffset.MinValue
            : ticks > DateTime.MaxValue.Ticks ? DateTimeOffset.MaxValue
            : new DateTimeOffset(ticks, TimeSpan.Zero);
    }
}
