using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;

namespace Smtpd.Benchmarks;

/// <summary>Writing replies into a PipeWriter: the cached wire form must make this allocation-free.</summary>
[MemoryDiagnoser]
public class ReplyWriterBenchmarks
{
    private static readonly SmtpReply Ok = new(250, "2.0.0", "OK");
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0));

    [Benchmark]
    public void WriteReplyWithEnhancedCode()
    {
        _pipe.Writer.Write(Ok.GetBytes(withEnhancedStatusCode: true));
        Drain();
    }

    [Benchmark]
    public void WriteReplyWithoutEnhancedCode()
    {
        _pipe.Writer.Write(Ok.GetBytes(withEnhancedStatusCode: false));
        Drain();
    }

    private void Drain()
    {
        // The pipe never pauses (pauseWriterThreshold 0), so the flush completes synchronously.
        var flush = _pipe.Writer.FlushAsync();
        if (!flush.IsCompleted)
        {
            throw new InvalidOperationException("The flush was expected to complete synchronously.");
        }

        _pipe.Reader.TryRead(out var result);
        _pipe.Reader.AdvanceTo(result.Buffer.End);
    }
}
