using System.Globalization;

namespace Smtpd.ApiBench;

/// <summary>Percentiles by nearest rank, the same rule as bench/SearchBench, so the tables compare.</summary>
internal static class Stats
{
    public static double Percentile(double[] sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>min, p1, p5, p25, p50, p75, p95, p99, max: the whole distribution in one line, milliseconds.</summary>
    public static string Distribution(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return string.Join(' ', new[] { ("min", 0.0), ("p1", 1), ("p5", 5), ("p25", 25), ("p50", 50), ("p75", 75), ("p95", 95), ("p99", 99), ("max", 100) }
            .Select(p => $"{p.Item1} {Percentile(sorted, p.Item2).ToString("F2", CultureInfo.InvariantCulture)}"));
    }

    public static string P50P99(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return $"{Percentile(sorted, 50).ToString("F2", CultureInfo.InvariantCulture),8} {Percentile(sorted, 99).ToString("F2", CultureInfo.InvariantCulture),8}";
    }
}
