using BenchmarkDotNet.Attributes;
using Smtpd.IO;
using Smtpd.Parsing;

namespace Smtpd.Benchmarks;

/// <summary>
/// The DATA reader over 1 MiB of content: end-of-data scanning and dot-unstuffing, reported as throughput
/// (bytes per operation / time per operation = GB/s in the results).
/// </summary>
[MemoryDiagnoser]
public class DataReaderBenchmarks
{
    private byte[] _plain = [];
    private byte[] _stuffed = [];
    private MessageBuffer _sink = null!;
    private DataDecoder _decoder = null!;

    [GlobalSetup]
    public void Setup()
    {
        _plain = Build(stuffEvery: 0);
        _stuffed = Build(stuffEvery: 4);
        // A sink that counts and stores nothing, so the benchmark measures the decoder, not memory copies to disk.
        _sink = new MessageBuffer(64 * 1024, maxLength: 0, spoolDirectory: null);
        _decoder = new DataDecoder(Smtpd.BareLineEndingPolicy.Reject, 1000);
    }

    [GlobalCleanup]
    public void Cleanup() => _sink.Dispose();

    /// <summary>1 MiB of 78-character lines, then CRLF.CRLF.</summary>
    [Benchmark(OperationsPerInvoke = 1)]
    public int ScanOneMebibyte() => Decode(_plain);

    /// <summary>The same with every fourth line dot-stuffed.</summary>
    [Benchmark]
    public int UnstuffOneMebibyte() => Decode(_stuffed);

    private int Decode(byte[] content)
    {
        _sink.Reset();
        _decoder.Reset();
        var consumed = _decoder.Decode(content, _sink);
        return _decoder.IsDone ? consumed : -1;
    }

    private static byte[] Build(int stuffEvery)
    {
        var lines = new List<byte>(1 << 20);
        var line = 0;
        while (lines.Count < 1 << 20)
        {
            if (stuffEvery > 0 && line % stuffEvery == 0)
            {
                lines.Add((byte)'.');
                lines.Add((byte)'.');
            }

            for (var i = 0; i < 76; i++)
            {
                lines.Add((byte)('a' + (i % 26)));
            }

            lines.Add((byte)'\r');
            lines.Add((byte)'\n');
            line++;
        }

        lines.AddRange(".\r\n"u8.ToArray());
        return lines.ToArray();
    }
}
