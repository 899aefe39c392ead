namespace Smtpd.Bench.Soak;

/// <summary>
/// Compares the driver's SENT ledger with the server's DELIVERED ledger ("sha256 size" per line): every message
/// answered 250 must be delivered exactly once; a delivered message that was never answered 250 is an error, unless
/// the driver lost its answer (DOUBT).
/// </summary>
internal static class Reconciler
{
    public static int Run(string sentPath, string deliveredPath, string doubtPath)
    {
        var sent = Count(sentPath);
        var delivered = Count(deliveredPath);
        var doubt = Count(doubtPath);
        var missing = sent.Where(s => delivered.GetValueOrDefault(s.Key) < s.Value).ToList();
        var duplicated = delivered.Where(d => d.Value > sent.GetValueOrDefault(d.Key) + doubt.GetValueOrDefault(d.Key) && sent.ContainsKey(d.Key)).ToList();
        var unexpected = delivered.Where(d => !sent.ContainsKey(d.Key) && d.Value > doubt.GetValueOrDefault(d.Key)).ToList();
        var doubtDelivered = doubt.Count(d => delivered.ContainsKey(d.Key));

        Console.WriteLine($"answered 250: {sent.Values.Sum()} messages ({sent.Count} distinct), {SizeOf(sent)} MiB");
        Console.WriteLine($"delivered:    {delivered.Values.Sum()} messages ({delivered.Count} distinct), {SizeOf(delivered)} MiB");
        Console.WriteLine($"in doubt:     {doubt.Values.Sum()} (of which delivered: {doubtDelivered})");
        Console.WriteLine($"missing (250 but not delivered): {missing.Count}; duplicated: {duplicated.Count}; delivered without a 250: {unexpected.Count}");
        foreach (var entry in missing.Concat(duplicated).Concat(unexpected).Take(20))
        {
            Console.WriteLine($"  {entry.Key.Hash} {entry.Key.Size}: sent {sent.GetValueOrDefault(entry.Key)}, delivered {delivered.GetValueOrDefault(entry.Key)}");
        }

        var ok = missing.Count == 0 && duplicated.Count == 0 && unexpected.Count == 0 && sent.Count > 0;
        Console.WriteLine(ok ? "RECONCILED: every 250 delivered exactly once, nothing else" : "NOT RECONCILED");
        return ok ? 0 : 1;
    }

    private static Dictionary<(string Hash, long Size), int> Count(string path)
    {
        var counts = new Dictionary<(string, long), int>();
        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2)
            {
                var key = (parts[0], long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }

        return counts;
    }

    private static long SizeOf(Dictionary<(string Hash, long Size), int> counts) => counts.Sum(c => c.Key.Size * c.Value) / (1024 * 1024);
}
