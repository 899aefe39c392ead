using Smtpd.IO;

namespace Smtpd.Tests.IO;

/// <summary><see cref="MessageBuffer"/>: memory up to a threshold, then a temporary file; truncation at MaxLength.</summary>
public sealed class MessageBufferTests : IDisposable
{
    private const int Threshold = 64 * 1024;

    private readonly string _spool = Directory.CreateTempSubdirectory("smtpd-tests-").FullName;

    public void Dispose() => Directory.Delete(_spool, recursive: true);

    private MessageBuffer NewBuffer(long maxLength = long.MaxValue, int threshold = Threshold) => new(threshold, maxLength, _spool);

    private static byte[] Pattern(int length, int seed = 0)
    {
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            // Not periodic at any power of two, so a block written twice or out of order shows.
            data[i] = (byte)((i * 7) + (i >> 9) + (i >> 17) + seed);
        }

        return data;
    }

    /// <summary>Writes in pieces of an awkward size, so they straddle every block boundary.</summary>
    private static void WriteInPieces(MessageBuffer buffer, byte[] data, int piece = 7919)
    {
        for (var offset = 0; offset < data.Length; offset += piece)
        {
            buffer.Write(data.AsSpan(offset, Math.Min(piece, data.Length - offset)));
        }
    }

    private static byte[] ReadAll(Stream stream, int piece = 4093)
    {
        using var copy = new MemoryStream();
        var chunk = new byte[piece];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            copy.Write(chunk, 0, read);
        }

        return copy.ToArray();
    }

    private static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var mismatch = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(mismatch == expected.Length, $"First difference at offset {mismatch}");
    }

    private static byte[] ReadBack(MessageBuffer buffer)
    {
        using var stream = buffer.OpenRead();
        return ReadAll(stream);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(Threshold - 1)]
    [InlineData(Threshold)]
    public void ContentUpToTheThresholdStaysInMemory(int length)
    {
        using var buffer = NewBuffer();
        var data = Pattern(length);

        WriteInPieces(buffer, data);
        buffer.Complete();

        Assert.False(buffer.IsSpooled);
        Assert.Empty(Directory.GetFiles(_spool));
        Assert.Equal(length, buffer.Length);
        AssertSameBytes(data, ReadBack(buffer));
    }

    [Theory]
    [InlineData(Threshold + 1)]
    [InlineData(5 * 1024 * 1024 + 3)]
    public void ContentAboveTheThresholdSpillsToAFileAndReadsBackByteExact(int length)
    {
        using var buffer = NewBuffer();
        var data = Pattern(length);

        WriteInPieces(buffer, data);
        buffer.Complete();

        Assert.True(buffer.IsSpooled);
        Assert.Single(Directory.GetFiles(_spool));
        Assert.Equal(length, buffer.Length);
        Assert.Equal(length, buffer.ReceivedLength);
        Assert.False(buffer.Overflowed);
        AssertSameBytes(data, ReadBack(buffer));
    }

    [Theory]
    [InlineData(5000, 5001, 1)]
    [InlineData(5000, 6000, 6000)]
    [InlineData(100_000, 100_001, 7919)]
    public void ContentAboveAThresholdThatIsNotAPowerOfTwoSpills(int threshold, int length, int piece)
    {
        // SmtpServerOptions.MessageMemoryThreshold accepts any value from 4 KiB to 64 MiB and promises that "a
        // session never holds more content in memory than this".
        using var buffer = NewBuffer(threshold: threshold);
        var data = Pattern(length);

        WriteInPieces(buffer, data, piece);
        buffer.Complete();

        Assert.True(buffer.IsSpooled);
        AssertSameBytes(data, ReadBack(buffer));
    }

    [Fact]
    public void OneLargeWriteSpillsAndReadsBackByteExact()
    {
        using var buffer = NewBuffer();
        var data = Pattern(3 * 1024 * 1024, seed: 11);

        buffer.Write(data);
        buffer.Complete();

        Assert.True(buffer.IsSpooled);
        AssertSameBytes(data, ReadBack(buffer));
    }

    [Fact]
    public void AThresholdThatIsNotAPowerOfTwoStillReadsBackByteExact()
    {
        using var buffer = NewBuffer(threshold: 5000);
        var data = Pattern(200_000, seed: 3);

        WriteInPieces(buffer, data, piece: 1237);
        buffer.Complete();

        Assert.True(buffer.IsSpooled);
        AssertSameBytes(data, ReadBack(buffer));
    }

    [Fact]
    public void NothingWrittenReadsAsEmpty()
    {
        using var buffer = NewBuffer();

        buffer.Complete();

        Assert.Equal(0, buffer.Length);
        Assert.Empty(ReadBack(buffer));
    }

    [Theory]
    [InlineData(Threshold)]
    [InlineData(1024)]
    public void WritesPastMaxLengthAreCountedButDropped(int threshold)
    {
        const int Max = 10_000;
        using var buffer = NewBuffer(maxLength: Max, threshold: threshold);
        var data = Pattern(25_000);

        WriteInPieces(buffer, data, piece: 3000);
        buffer.Write(data.AsSpan(0, 500));
        buffer.Complete();

        Assert.True(buffer.Overflowed);
        Assert.Equal(Max, buffer.Length);
        Assert.Equal(25_500, buffer.ReceivedLength);
        AssertSameBytes(data[..Max], ReadBack(buffer));
    }

    [Fact]
    public void ACountOnlyBufferCountsEveryOctetButStoresNoneAndNeverSpills()
    {
        using var buffer = NewBuffer(maxLength: 3 * Threshold);
        buffer.CountOnly = true;

        WriteInPieces(buffer, Pattern(2 * Threshold));
        buffer.Complete();

        Assert.False(buffer.Overflowed);
        Assert.False(buffer.IsSpooled);
        Assert.Equal(0, buffer.Length);
        Assert.Equal(2 * Threshold, buffer.ReceivedLength);
        Assert.Empty(Directory.GetFiles(_spool));
    }

    [Fact]
    public void ACountOnlyBufferStillReportsOverflowPastMaxLength()
    {
        using var buffer = NewBuffer(maxLength: 1000);
        buffer.CountOnly = true;

        buffer.Write(Pattern(1000));
        Assert.False(buffer.Overflowed);
        buffer.Write(Pattern(1));

        Assert.True(buffer.Overflowed);
        Assert.Equal(1001, buffer.ReceivedLength);
    }

    [Fact]
    public void ContentOfExactlyMaxLengthDoesNotOverflow()
    {
        using var buffer = NewBuffer(maxLength: 100);

        buffer.Write(Pattern(60));
        buffer.Write(Pattern(40, seed: 60 * 7));
        buffer.Complete();

        Assert.False(buffer.Overflowed);
        Assert.Equal(100, buffer.Length);
        Assert.Equal(100, buffer.ReceivedLength);

        using var again = NewBuffer(maxLength: 100);
        again.Write(Pattern(101));
        Assert.True(again.Overflowed);
        Assert.Equal(100, again.Length);
        Assert.Equal(101, again.ReceivedLength);
    }

    [Fact]
    public void TruncationAtMaxLengthKeepsTheMessageInMemoryWhenMaxIsBelowTheThreshold()
    {
        using var buffer = NewBuffer(maxLength: 1000);

        WriteInPieces(buffer, Pattern(5 * Threshold));
        buffer.Complete();

        Assert.False(buffer.IsSpooled);
        Assert.Equal(1000, buffer.Length);
        Assert.Equal(5 * Threshold, buffer.ReceivedLength);
    }

    [Theory]
    [InlineData(10_000)]
    [InlineData(1024 * 1024)]
    public void TwoReadersAreIndependent(int length)
    {
        using var buffer = NewBuffer();
        var data = Pattern(length);
        WriteInPieces(buffer, data);
        buffer.Complete();

        using var first = buffer.OpenRead();
        using var second = buffer.OpenRead();
        var head = new byte[100];
        first.ReadExactly(head);

        Assert.Equal(100, first.Position);
        Assert.Equal(0, second.Position);
        AssertSameBytes(data, ReadAll(second));
        AssertSameBytes(data[100..], ReadAll(first));
        AssertSameBytes(data[..100], head);
    }

    [Theory]
    [InlineData(10_000)]
    [InlineData(1024 * 1024)]
    public void ReadersAreSeekableAndReadOnly(int length)
    {
        using var buffer = NewBuffer();
        var data = Pattern(length);
        WriteInPieces(buffer, data);
        buffer.Complete();
        using var stream = buffer.OpenRead();

        Assert.True(stream.CanRead);
        Assert.True(stream.CanSeek);
        Assert.False(stream.CanWrite);
        Assert.Equal(length, stream.Length);

        Assert.Equal(5000, stream.Seek(5000, SeekOrigin.Begin));
        Assert.Equal(data[5000], (byte)stream.ReadByte());
        Assert.Equal(5011, stream.Seek(10, SeekOrigin.Current));
        Assert.Equal(data[5011], (byte)stream.ReadByte());
        Assert.Equal(length - 3, stream.Seek(-3, SeekOrigin.End));
        AssertSameBytes(data[^3..], ReadAll(stream));
        Assert.Equal(-1, stream.ReadByte());

        stream.Position = 1;
        Assert.Equal(data[1], (byte)stream.ReadByte());

        stream.Seek(length + 10, SeekOrigin.Begin);
        Assert.Equal(0, stream.Read(new byte[10], 0, 10));

        Assert.Throws<NotSupportedException>(() => stream.Write([1], 0, 1));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(1));
    }

    [Fact]
    public void ResetDropsTheContentAndTheSpoolFileAndTheBufferCanBeReused()
    {
        using var buffer = NewBuffer(maxLength: 2 * 1024 * 1024);
        WriteInPieces(buffer, Pattern(3 * 1024 * 1024));
        buffer.Complete();
        Assert.True(buffer.IsSpooled);
        Assert.True(buffer.Overflowed);
        Assert.Single(Directory.GetFiles(_spool));

        buffer.Reset();

        Assert.False(buffer.IsSpooled);
        Assert.False(buffer.Overflowed);
        Assert.Equal(0, buffer.Length);
        Assert.Equal(0, buffer.ReceivedLength);
        Assert.Empty(Directory.GetFiles(_spool));

        var small = Pattern(3000, seed: 5);
        buffer.Write(small);
        buffer.Complete();
        Assert.False(buffer.IsSpooled);
        AssertSameBytes(small, ReadBack(buffer));

        buffer.Reset();
        var large = Pattern(Threshold * 3, seed: 9);
        WriteInPieces(buffer, large);
        buffer.Complete();
        Assert.True(buffer.IsSpooled);
        AssertSameBytes(large, ReadBack(buffer));
    }

    [Fact]
    public void DisposeDeletesTheSpoolFile()
    {
        var buffer = NewBuffer();
        WriteInPieces(buffer, Pattern(Threshold * 2));
        Assert.True(buffer.IsSpooled);
        Assert.Single(Directory.GetFiles(_spool));

        buffer.Dispose();

        Assert.Empty(Directory.GetFiles(_spool));
    }

    [Fact]
    public void OpenReadBeforeCompleteThrows()
    {
        using var buffer = NewBuffer();
        buffer.Write(Pattern(10));

        Assert.Throws<InvalidOperationException>(buffer.OpenRead);

        buffer.Complete();
        buffer.Reset();
        Assert.Throws<InvalidOperationException>(buffer.OpenRead);
    }

    [Fact]
    public void WriteAfterCompleteThrows()
    {
        using var buffer = NewBuffer();
        buffer.Write(Pattern(10));
        buffer.Complete();

        Assert.Throws<ObjectDisposedException>(() => buffer.Write(Pattern(1)));
        Assert.Equal(10, buffer.ReceivedLength);
    }
}
