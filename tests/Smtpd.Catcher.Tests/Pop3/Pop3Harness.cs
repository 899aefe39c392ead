using System.Buffers;
using System.Text;
using Smtpd.Catcher.Pop3;
using Smtpd.Tests.Support;

namespace Smtpd.Catcher.Tests.Pop3;

/// <summary>A maildrop in memory, for the session without a store.</summary>
internal sealed class MemoryMaildrops : IPop3MaildropSource
{
    private readonly List<(long Id, byte[] Content)> _messages = [];
    private readonly HashSet<string> _locked = [];

    public List<long> Removed { get; } = [];

    public Pop3LockResult Result { get; set; } = Pop3LockResult.Locked;

    /// <summary>Makes <see cref="IPop3Maildrop.Open"/> fail as a store that cannot be read does.</summary>
    public bool FailOpen { get; set; }

    public MemoryMaildrops Add(string content)
    {
        _messages.Add((_messages.Count + 1, Encoding.ASCII.GetBytes(content)));
        return this;
    }

    public bool IsLocked(string user) => _locked.Contains(user);

    public Pop3LockResult TryLock(string user, out IPop3Maildrop? maildrop)
    {
        maildrop = null;
        if (Result != Pop3LockResult.Locked)
        {
            return Result;
        }

        if (!_locked.Add(user))
        {
            return Pop3LockResult.InUse;
        }

        maildrop = new Maildrop(this, user);
        return Pop3LockResult.Locked;
    }

    private sealed class Maildrop(MemoryMaildrops owner, string user) : IPop3Maildrop
    {
        public IReadOnlyList<Pop3Message> Messages { get; } = [.. owner._messages.Select(m => new Pop3Message(m.Id, m.Content.Length, $"uid{m.Id}"))];

        public Stream? Open(Pop3Message message) =>
            owner.FailOpen ? throw new IOException("disk gone")
            : owner.Removed.Contains(message.Id) ? null : new MemoryStream(owner._messages.Single(m => m.Id == message.Id).Content, writable: false);

        public void Remove(IReadOnlyList<Pop3Message> messages) => owner.Removed.AddRange(messages.Select(m => m.Id));

        public void Dispose() => owner._locked.Remove(user);
    }
}

/// <summary>
/// Runs a client's side of a transcript through <see cref="Pop3Protocol"/> with the input fed whole, line by line or
/// byte by byte, streams RETR and TOP through <see cref="Pop3MessageEncoder"/> as the connection does, and returns
/// everything the server wrote. Input after a close is not read, as on a closed connection.
/// </summary>
internal static class Pop3Harness
{
    public static Pop3SessionSettings Settings(IReadOnlyDictionary<string, string>? users = null, bool tls = false, int maxBadCommands = 20, int maxAuthFailures = 3, int maxLineLength = 255) =>
        new(users ?? new Dictionary<string, string> { ["alice"] = "secret" }, tls, maxLineLength, maxBadCommands, maxAuthFailures);

    public static string Run(string clientInput, FeedMode mode, MemoryMaildrops? maildrops = null, Pop3SessionSettings? settings = null) =>
        Run(Encoding.ASCII.GetBytes(clientInput), mode, maildrops ?? new MemoryMaildrops(), settings ?? Settings()).Output;

    public static (string Output, Pop3Step Last, Pop3Session Session) Run(byte[] input, FeedMode mode, MemoryMaildrops maildrops, Pop3SessionSettings settings)
    {
        var session = new Pop3Session(settings, maildrops);
        var protocol = new Pop3Protocol(session, settings.MaxLineLength);
        var output = new ArrayBufferWriter<byte>();
        Pop3Session.Greet(output);
        byte[] pending = [];
        var last = Pop3Step.Continue;
        foreach (var piece in Feed.Split(input, mode))
        {
            // The unconsumed input and the new piece, split again the way the mode splits, so a line that arrives
            // byte by byte is parsed from as many segments as it has octets.
            pending = [.. pending, .. piece];
            var buffer = Feed.AsSequence(pending, mode);
            var consumed = buffer.Start;
            while (protocol.TryProcessLine(buffer, ref consumed, output, out var step))
            {
                last = step;
                if (step == Pop3Step.SendMessage)
                {
                    var transfer = session.TakeTransfer();
                    var encoder = new Pop3MessageEncoder(transfer.BodyLines);
                    using (transfer.Content)
                    {
                        var chunk = new byte[7];
                        int read;
                        while (!encoder.IsDone && (read = transfer.Content.Read(chunk)) > 0)
                        {
                            encoder.Write(chunk.AsSpan(0, read), output);
                        }
                    }

                    encoder.Complete(output);
                }
                else if (step is Pop3Step.Close or Pop3Step.StartTls)
                {
                    return (Encoding.ASCII.GetString(output.WrittenSpan), step, session);
                }
            }

            pending = buffer.Slice(consumed).ToArray();
        }

        return (Encoding.ASCII.GetString(output.WrittenSpan), last, session);
    }

    /// <summary>Runs the transcript every way and checks that all three give the same output, which it returns.</summary>
    public static string RunEveryWay(string clientInput, Func<MemoryMaildrops>? maildrops = null, Pop3SessionSettings? settings = null)
    {
        var outputs = new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte }
            .Select(mode => Run(clientInput, mode, maildrops?.Invoke(), settings))
            .ToList();
        Assert.Equal(outputs[0], outputs[1]);
        Assert.Equal(outputs[0], outputs[2]);
        return outputs[0];
    }
}
