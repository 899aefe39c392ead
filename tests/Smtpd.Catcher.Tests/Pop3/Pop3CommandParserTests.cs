using System.Buffers;
using System.Text;
using Smtpd.Catcher.Pop3;
using Smtpd.Tests.Support;

namespace Smtpd.Catcher.Tests.Pop3;

/// <summary>The command parser on its own; every line is also split off input fed three ways.</summary>
public sealed class Pop3CommandParserTests
{
    /// <summary>Parses the line directly and after it is split off (with CRLF) input fed whole, line by line and byte by byte; all must agree.</summary>
    private static string ParseEveryWay(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var direct = Describe(bytes);
        byte[] wire = [.. bytes, (byte)'\r', (byte)'\n'];
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            var reader = new SequenceReader<byte>(Feed.AsSequence(wire, mode));
            Assert.True(reader.TryReadTo(out ReadOnlySequence<byte> read, (byte)'\n'));
            Assert.True(reader.End);
            Assert.Equal(direct, Describe(read.ToArray()));
        }

        return direct;
    }

    private static string Describe(byte[] line)
    {
        var error = Pop3CommandParser.TryParse(line, out var command);
        return error != Pop3ParseError.None
            ? error.ToString()
            : $"{command.Verb} [{Encoding.UTF8.GetString(command.Text)}] [{Encoding.UTF8.GetString(command.InitialResponse)}] {command.Message} {command.Lines}";
    }

    [Theory]
    [InlineData("STAT", "Stat [] [] 0 0")]
    [InlineData("stat", "Stat [] [] 0 0")]
    [InlineData("QuIt", "Quit [] [] 0 0")]
    [InlineData("CAPA", "Capa [] [] 0 0")]
    [InlineData("STLS", "Stls [] [] 0 0")]
    [InlineData("NOOP", "Noop [] [] 0 0")]
    [InlineData("RSET", "Rset [] [] 0 0")]
    [InlineData("LIST", "List [] [] 0 0")]
    [InlineData("LIST 7", "List [] [] 7 0")]
    [InlineData("UIDL", "Uidl [] [] 0 0")]
    [InlineData("UIDL 12", "Uidl [] [] 12 0")]
    [InlineData("RETR 1", "Retr [] [] 1 0")]
    [InlineData("DELE 999999999", "Dele [] [] 999999999 0")]
    [InlineData("TOP 3 0", "Top [] [] 3 0")]
    [InlineData("top 3 10", "Top [] [] 3 10")]
    [InlineData("USER alice", "User [alice] [] 0 0")]
    [InlineData("PASS with spaces inside", "Pass [with spaces inside] [] 0 0")]
    [InlineData("AUTH", "Auth [] [] 0 0")]
    [InlineData("AUTH PLAIN", "Auth [PLAIN] [] 0 0")]
    [InlineData("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "Auth [PLAIN] [AGFsaWNlAHNlY3JldA==] 0 0")]
    public void ValidCommandsParseToTheirVerbAndArguments(string line, string expected) =>
        Assert.Equal(expected, ParseEveryWay(line));

    [Theory]
    [InlineData("", "UnknownCommand")]
    [InlineData("HELO", "UnknownCommand")]
    [InlineData("APOP alice 0123", "UnknownCommand")]
    [InlineData("RETRX 1", "UnknownCommand")]
    [InlineData("TO", "UnknownCommand")]
    [InlineData(" STAT", "UnknownCommand")]
    [InlineData("STAT ", "TooManyArguments")]
    [InlineData("STAT 1", "TooManyArguments")]
    [InlineData("RETR", "MissingArgument")]
    [InlineData("RETR ", "BadNumber")]
    [InlineData("RETR 0", "BadNumber")]
    [InlineData("RETR -1", "BadNumber")]
    [InlineData("RETR +1", "BadNumber")]
    [InlineData("RETR 1x", "BadNumber")]
    [InlineData("RETR 1234567890", "BadNumber")]
    [InlineData("RETR 1 2", "TooManyArguments")]
    [InlineData("RETR  1", "BadNumber")]
    [InlineData("TOP 1", "MissingArgument")]
    [InlineData("TOP 1 ", "BadNumber")]
    [InlineData("TOP 1 2 3", "TooManyArguments")]
    [InlineData("LIST ", "BadNumber")]
    [InlineData("USER", "MissingArgument")]
    [InlineData("USER ", "MissingArgument")]
    [InlineData("USER two words", "BadArgument")]
    [InlineData("USER aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "BadArgument")]
    [InlineData("PASS", "MissingArgument")]
    [InlineData("PASS a\tb", "BadArgument")]
    [InlineData("AUTH ", "MissingArgument")]
    [InlineData("AUTH PLAIN ", "BadArgument")]
    [InlineData("AUTH PLAIN a b", "BadArgument")]
    public void MalformedCommandsNameWhatIsWrong(string line, string expected) =>
        Assert.Equal(expected, ParseEveryWay(line));

    [Fact]
    public void ALineParsesTheSameWithOrWithoutTheCarriageReturnBeforeItsLineFeed()
    {
        Assert.Equal("List [] [] 2 0", Describe("LIST 2"u8.ToArray()));
        Assert.Equal("List [] [] 2 0", Describe("LIST 2\r"u8.ToArray()));
    }

    [Fact]
    public void EveryVerbHasARuleInTheCommandTable()
    {
        foreach (var verb in Enum.GetValues<Pop3Verb>().Where(v => v != Pop3Verb.Unknown))
        {
            Assert.Equal(verb, Pop3CommandTable.For(verb).Verb);
            Assert.NotEqual(Pop3States.None, Pop3CommandTable.For(verb).States);
        }

        Assert.True(Pop3CommandTable.IsAllowed(Pop3Verb.Capa, Pop3State.Transaction));
        Assert.False(Pop3CommandTable.IsAllowed(Pop3Verb.Retr, Pop3State.Authorization));
        Assert.False(Pop3CommandTable.IsAllowed(Pop3Verb.Pass, Pop3State.Authorization));
        Assert.False(Pop3CommandTable.IsAllowed(Pop3Verb.Stls, Pop3State.Transaction));
    }
}
