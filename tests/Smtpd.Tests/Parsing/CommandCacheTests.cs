using System.Buffers;
using System.Text;
using Smtpd.Parsing;
using Smtpd.Protocol.Commands;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="CommandCache"/>: a session's parser reuses its MAIL, RCPT and BDAT objects and the mailboxes of
/// repeated paths, and must never let one line's values leak into another's. Every line is fed through
/// <see cref="CommandLineReader"/> the three ways, each way with its own cache.
/// </summary>
public sealed class CommandCacheTests
{
    /// <summary>Parses <paramref name="lines"/> in order with one cache per feed mode, and returns what each feed saw.</summary>
    private static List<List<T>> ParseAll<T>(Func<SmtpCommand, T> observe, bool dsn, params string[] lines)
    {
        var results = new List<List<T>>();
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            var cache = new CommandCache();
            var seen = new List<T>();
            var wire = Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\r\n")));
            var reader = new SequenceReader<byte>(Feed.AsSequence(wire, mode));
            while (!reader.End)
            {
                Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref reader, 512, out var line));
                // Observed at once: the command object is valid only until the next parse with this cache.
                seen.Add(observe(CommandParser.Parse(line.ToArray(), smtpUtf8: false, dsn, cache)));
            }

            Assert.Equal(lines.Length, seen.Count);
            results.Add(seen);
        }

        return results;
    }

    [Fact]
    public void ARepeatedPathGetsTheSameMailboxInstance()
    {
        foreach (var seen in ParseAll(c => ((RcptCommand)c).Recipient, dsn: false, "RCPT TO:<bob@example.com>", "RCPT TO:<bob@example.com>"))
        {
            Assert.Same(seen[0], seen[1]);
            Assert.Equal("bob@example.com", seen[1].Address);
        }
    }

    [Fact]
    public void APathThatDiffersOnlyInCaseGetsItsOwnMailboxSpelledAsSent()
    {
        foreach (var seen in ParseAll(c => ((RcptCommand)c).Recipient, dsn: false, "RCPT TO:<bob@example.com>", "RCPT TO:<Bob@example.com>", "RCPT TO:<bob@Example.com>"))
        {
            Assert.Equal(["bob@example.com", "Bob@example.com", "bob@Example.com"], seen.Select(m => m.Address));
            Assert.NotSame(seen[0], seen[1]);
            Assert.NotSame(seen[0], seen[2]);
        }
    }

    [Fact]
    public void TheSplitBetweenLocalPartAndDomainIsPartOfTheKey()
    {
        // Same octets once '@' is removed: "ab" + "c.d" and "a" + "bc.d" must not be confused.
        foreach (var seen in ParseAll(c => ((RcptCommand)c).Recipient, dsn: false, "RCPT TO:<ab@c.d>", "RCPT TO:<a@bc.d>"))
        {
            Assert.Equal(("ab", "c.d"), (seen[0].LocalPart, seen[0].Domain));
            Assert.Equal(("a", "bc.d"), (seen[1].LocalPart, seen[1].Domain));
        }
    }

    [Fact]
    public void MoreDistinctPathsThanTheCapacityEvictTheOldestAndStillParseCorrectly()
    {
        var lines = Enumerable.Range(0, MailboxCache.Capacity + 3).Select(i => $"RCPT TO:<user{i}@example.com>").Append("RCPT TO:<user0@example.com>").ToArray();
        foreach (var seen in ParseAll(c => ((RcptCommand)c).Recipient, dsn: false, lines))
        {
            Assert.Equal(lines.Select(l => l[9..^1]), seen.Select(m => m.Address));
            // user0 was evicted, so its mailbox is a new (equal) one.
            Assert.NotSame(seen[0], seen[^1]);
            Assert.Equal(seen[0], seen[^1]);
        }
    }

    [Fact]
    public void ReusedMailCommandsCarryOnlyTheirOwnLinesParameters()
    {
        var seen = ParseAll(
            c => c is MailCommand m ? $"{m.Sender?.Address ?? "<>"} {m.DeclaredSize} {m.Body} {m.SmtpUtf8} {m.DsnReturn} {m.DsnEnvelopeId}" : c.GetType().Name,
            dsn: true,
            "MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=X+2BY",
            "MAIL FROM:<a@example.com>",
            "MAIL FROM:<>");
        foreach (var feed in seen)
        {
            Assert.Equal(
                ["a@example.com 1000 EightBitMime True Headers X+Y", "a@example.com  SevenBit False None ", "<>  SevenBit False None "],
                feed);
        }
    }

    [Fact]
    public void DsnParametersOfOneRcptNeverReachTheSharedMailboxOfTheSamePath()
    {
        var seen = ParseAll(
            c => ((RcptCommand)c).Recipient,
            dsn: true,
            "RCPT TO:<bob@example.com>",
            "RCPT TO:<bob@example.com> NOTIFY=SUCCESS ORCPT=rfc822;bob@example.com",
            "RCPT TO:<bob@example.com>");
        foreach (var feed in seen)
        {
            Assert.Null(feed[0].Dsn);
            Assert.Equal(SmtpDsnNotify.Success, feed[1].Dsn!.Notify);
            Assert.Equal("bob@example.com", feed[1].Address);
            Assert.Null(feed[2].Dsn);
            Assert.Same(feed[0], feed[2]);
        }
    }

    [Fact]
    public void ReusedBdatCommandsCarryTheirOwnSizeAndEndMarker()
    {
        foreach (var feed in ParseAll(c => (((BdatCommand)c).Size, ((BdatCommand)c).IsLast), dsn: false, "BDAT 100", "BDAT 5 LAST", "BDAT 0"))
        {
            Assert.Equal([(100L, false), (5L, true), (0L, false)], feed);
        }
    }

    [Fact]
    public void ThePostmasterPathIsCachedLikeAnyOther()
    {
        foreach (var feed in ParseAll(c => ((RcptCommand)c).Recipient, dsn: false, "RCPT TO:<Postmaster>", "RCPT TO:<Postmaster>", "RCPT TO:<POSTMASTER>"))
        {
            Assert.Same(feed[0], feed[1]);
            Assert.Equal("Postmaster", feed[0].Address);
            Assert.Equal("POSTMASTER", feed[2].Address);
            Assert.True(feed[2].IsPostmaster);
        }
    }
}
