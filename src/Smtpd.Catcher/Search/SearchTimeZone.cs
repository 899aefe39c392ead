namespace Smtpd.Catcher.Search;

/// <summary>
/// The time zone that dates without an offset are read in (docs/search.md "Dates"): Mailpit's <c>tz</c> parameter,
/// an IANA name such as <c>Europe/Berlin</c> that the web UI takes from the browser.
/// </summary>
internal static class SearchTimeZone
{
    /// <summary>Finds the zone a <c>tz</c> parameter names.</summary>
    /// <param name="id">The IANA (or, on Windows, Windows) zone name; <see langword="null"/> or empty for the machine's local zone, as in Mailpit.</param>
    /// <param name="zone">The zone, or <see cref="TimeZoneInfo.Local"/> when <paramref name="id"/> names none.</param>
    /// <returns>
    /// Whether <paramref name="id"/> was empty or named a known zone. Mailpit logs an unknown zone and goes on with the
    /// local one; the API should answer 400 instead, for the reason it refuses a bad date.
    /// </returns>
    public static bool TryResolve(string? id, out TimeZoneInfo zone)
    {
        zone = TimeZoneInfo.Local;
        if (string.IsNullOrWhiteSpace(id))
        {
            return true;
        }

        // A name is short; anything long, or with a control character, is not one and never reaches the file system.
        if (id.Length > 64 || id.Any(char.IsControl))
        {
            return false;
        }

        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException or IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            return false;
        }
    }
}
