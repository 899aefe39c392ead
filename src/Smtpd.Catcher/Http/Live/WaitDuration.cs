using System.Globalization;

namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// The durations a wait takes (<c>timeout=</c> on <c>/api/v1/wait</c>, <c>--timeout</c> of <c>smtpd wait</c>): whole
/// seconds (<c>30</c>), or a whole number with <c>ms</c>, <c>s</c> or <c>m</c> (<c>1500ms</c>, <c>30s</c>, <c>5m</c>).
/// </summary>
internal static class WaitDuration
{
    /// <summary>Parses a duration.</summary>
    /// <param name="text">The text.</param>
    /// <param name="duration">The duration.</param>
    /// <returns>Whether <paramref name="text"/> is a duration.</returns>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        var value = (text ?? string.Empty).AsSpan().Trim();
        var unit = value.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? 1L
            : value.EndsWith('s') || value.EndsWith('S') ? 1000L
            : value.EndsWith('m') || value.EndsWith('M') ? 60_000L
            : 0L;
        var digits = unit switch { 1L => value[..^2], 0L => value, _ => value[..^1] };
        unit = unit == 0 ? 1000L : unit;
        // At most nine digits: the largest value (999999999 minutes) still fits in a TimeSpan, and no sane wait is longer.
        if (digits.Length is 0 or > 9 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        duration = TimeSpan.FromMilliseconds(number * unit);
        return true;
    }

    /// <summary>Formats a duration the way <see cref="TryParse"/> reads it, in the largest exact unit.</summary>
    /// <param name="duration">The duration, in whole milliseconds.</param>
    /// <returns>The text, such as <c>30s</c> or <c>1500ms</c>.</returns>
    public static string Format(TimeSpan duration)
    {
        var ms = (long)duration.TotalMilliseconds;
        return ms % 60_000 == 0 && ms > 0 ? string.Create(CultureInfo.InvariantCulture, $"{ms / 60_000}m")
            : ms % 1000 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{ms / 1000}s")
            : string.Create(CultureInfo.InvariantCulture, $"{ms}ms");
    }
}
