namespace Smtpd.Tests.Protocol;

/// <summary>
/// Replays every recorded transcript (<c>TestData/Transcripts/*.smtp</c>, format in <see cref="Transcript"/>) in
/// memory against the protocol, fed three ways: the whole client side at once, one client entry at a time (each
/// entry's replies must follow it), and one octet at a time.
/// </summary>
public sealed class TranscriptTests
{
    public static TheoryData<string, FeedMode> Cases()
    {
        var cases = new TheoryData<string, FeedMode>();
        foreach (var name in Transcript.Names())
        {
            foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
            {
                cases.Add(name, mode);
            }
        }

        return cases;
    }

    [Fact]
    public void TheTranscriptDirectoryHoldsTranscripts() => Assert.True(Transcript.Names().Count() >= 10);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task TheServerAnswersTheTranscriptAsRecorded(string name, FeedMode mode)
    {
        var transcript = Transcript.Load(name);
        if (mode == FeedMode.LineByLine && Environment.GetEnvironmentVariable("SMTPD_RECORD_TRANSCRIPTS") == "1")
        {
            await transcript.RecordAsync();
            transcript = Transcript.Load(name);
        }

        var delivered = new List<string>();
        using var session = transcript.CreateSession(delivered);
        await session.StartAsync();
        if (mode == FeedMode.LineByLine)
        {
            // Each client entry is one piece, and the replies it gets are exactly the S: lines that follow it.
            var expected = transcript.ExpectedRepliesPerEntry();
            var entries = transcript.ClientEntries().ToArray();
            Assert.Equal(expected[0], session.TakeReplies());
            for (var i = 0; i < entries.Length; i++)
            {
                await session.WriteAsync(entries[i]);
                Assert.Equal(expected[i + 1], session.TakeReplies());
            }
        }
        else
        {
            var input = transcript.ClientEntries().SelectMany(e => e).ToArray();
            foreach (var piece in Feed.Split(input, mode))
            {
                await session.WriteAsync(piece);
            }

            Assert.Equal(transcript.ExpectedReplies(), session.TakeReplies());
        }

        Assert.Equal(transcript.ExpectedMessages(), delivered);
    }
}
