using Npgsql;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>
/// A read-only, seekable stream over a message's content in <c>message_chunks</c>, one <c>bytea</c> row (at most
/// <see cref="PostgresSchema.ChunkSize"/> octets) in memory at a time, as <see cref="ChunkedContentStream"/> is on SQLite.
/// </summary>
internal sealed class PostgresContentStream : Stream
{
    private readonly NpgsqlCommand _select;
    private readonly long _length;
    private readonly NpgsqlTransaction? _transaction;
    private readonly IDisposable? _owner;
    private long _position;
    private int _loadedSeq = -1;
    private byte[] _chunk = [];

    /// <summary>Opens the content of message <paramref name="id"/>.</summary>
    /// <param name="connection">An open connection; it must outlive the stream.</param>
    /// <param name="id">The message id.</param>
    /// <param name="length">The content size.</param>
    /// <param name="transaction">A snapshot to read in, disposed with the stream.</param>
    /// <param name="owner">What owns the connection, disposed with the stream.</param>
    public PostgresContentStream(NpgsqlConnection connection, long id, long length, NpgsqlTransaction? transaction = null, IDisposable? owner = null)
    {
        _length = length;
        _transaction = transaction;
        _owner = owner;
        _select = new NpgsqlCommand("SELECT data FROM message_chunks WHERE message_id = @id AND seq = @seq", connection, transaction);
        _select.Parameters.AddWithValue("id", id);
        _select.Parameters.AddWithValue("seq", 0);
    }

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanSeek => true;

    /// <inheritdoc/>
    public override bool CanWrite => false;

    /// <inheritdoc/>
    public override long Length => _length;

    /// <inheritdoc/>
    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        if (_position >= _length || buffer.IsEmpty)
        {
            return 0;
        }

        var seq = (int)(_position / PostgresSchema.ChunkSize);
        if (seq != _loadedSeq)
        {
            _select.Parameters[1].Value = seq;
            _chunk = _select.ExecuteScalar() as byte[] ?? throw new InvalidDataException($"Chunk {seq} of the message is missing from the store.");
            _loadedSeq = seq;
        }

        var offsetInChunk = (int)(_position - ((long)seq * PostgresSchema.ChunkSize));
        var available = _chunk.Length - offsetInChunk;
        if (available <= 0)
        {
            throw new InvalidDataException($"Chunk {seq} of the message is shorter than its size says.");
        }

        var n = Math.Min(available, buffer.Length);
        _chunk.AsSpan(offsetInChunk, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _select.Dispose();
            _transaction?.Dispose();
            _owner?.Dispose();
        }

        base.Dispose(disposing);
    }
}
