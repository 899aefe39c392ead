using System.Buffers;
using System.Text;
using Smtpd.Parsing;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="PathGrammar"/> (RFC 5321 4.1.2 with RFC 6531 3.3). Each path is also read as a line through
/// <see cref="CommandLineReader"/> fed the three ways, and the grammar must give the same answer on that copy.
/// </summary>
public sealed class PathGrammarTests
{
    private enum Rule
    {
        Reverse,
        Forward,
        Path,
    }

    private readonly record struct Outcome(PathError Error, string? LocalPart, string? Domain, int Position);

    private static Outcome Run(ReadOnlySpan<byte> text, Rule rule)
    {
        var grammar = new PathGrammar(text);
        SmtpMailbox? mailbox;
        var error = rule switch
        {
            Rule.Reverse => grammar.TryMakeReversePath(out mailbox),
            Rule.Forward => grammar.TryMakeForwardPath(out mailbox),
            _ => grammar.TryMakePath(out mailbox),
        };
        return new Outcome(error, mailbox?.LocalPart, mailbox?.Domain, grammar.Position);
    }

    private static Outcome Parse(string text, Rule rule) => Parse(Encoding.UTF8.GetBytes(text), rule);

    private static Outcome Parse(byte[] text, Rule rule)
    {
        var direct = Run(text, rule);
        byte[] wire = [.. text, (byte)'\r', (byte)'\n'];
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            var reader = new SequenceReader<byte>(Feed.AsSequence(wire, mode));
            Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref reader, 1024, out var line));
            var copy = line.ToArray();
            Assert.Equal(direct, Run(copy.AsSpan(0, copy.Length - 1), rule));
        }

        return direct;
    }

    private static void AssertAccepted(string path, string localPart, string domain, params Rule[] rules)
    {
        foreach (var rule in rules.Length == 0 ? [Rule.Reverse, Rule.Forward, Rule.Path] : rules)
        {
            var outcome = Parse(path, rule);
            Assert.Equal(new Outcome(PathError.None, localPart, domain, Encoding.UTF8.GetByteCount(path)), outcome);
        }
    }

    private static void AssertRejected(byte[] path, PathError error)
    {
        foreach (var rule in new[] { Rule.Reverse, Rule.Forward, Rule.Path })
        {
            // A failed rule leaves the position where it was, so the caller can try something else.
            Assert.Equal(new Outcome(error, null, null, 0), Parse(path, rule));
        }
    }

    private static void AssertRejected(string path, PathError error = PathError.Syntax) => AssertRejected(Encoding.UTF8.GetBytes(path), error);

    [Fact]
    public void TheNullPathIsAReversePathOnly()
    {
        Assert.Equal(new Outcome(PathError.None, null, null, 2), Parse("<>", Rule.Reverse));
        Assert.Equal(new Outcome(PathError.Syntax, null, null, 0), Parse("<>", Rule.Forward));
        Assert.Equal(new Outcome(PathError.Syntax, null, null, 0), Parse("<>", Rule.Path));
    }

    [Theory]
    [InlineData("<user@example.com>", "user", "example.com")]
    [InlineData("<User.Name+tag@Mail.Example.COM>", "User.Name+tag", "Mail.Example.COM")]
    [InlineData("<a@b>", "a", "b")]
    [InlineData("<!#$%&'*+-/=?^_`{|}~@example.com>", "!#$%&'*+-/=?^_`{|}~", "example.com")]
    [InlineData("<x@a-b--c.example>", "x", "a-b--c.example")]
    [InlineData("<x@1example.com>", "x", "1example.com")]
    public void APlainMailboxIsAccepted(string path, string localPart, string domain)
    {
        AssertAccepted(path, localPart, domain);
    }

    [Theory]
    [InlineData("<\"john doe\"@example.com>", "\"john doe\"", "example.com")]
    [InlineData("<\"a\\\"b\"@example.com>", "\"a\\\"b\"", "example.com")]
    [InlineData("<\"a\\\\b\"@example.com>", "\"a\\\\b\"", "example.com")]
    [InlineData("<\"\"@example.com>", "\"\"", "example.com")]
    [InlineData("<\"a@b,c:d<e>\"@example.com>", "\"a@b,c:d<e>\"", "example.com")]
    public void AQuotedLocalPartIsAcceptedAndKeptAsWritten(string path, string localPart, string domain)
    {
        AssertAccepted(path, localPart, domain);
    }

    [Theory]
    [InlineData("<@a.example,@b.example:u@c.example>")]
    [InlineData("<@a.example:u@c.example>")]
    public void ASourceRouteIsStripped(string path)
    {
        AssertAccepted(path, "u", "c.example");
    }

    [Theory]
    [InlineData("<u@[127.0.0.1]>", "[127.0.0.1]")]
    [InlineData("<u@[0.0.0.0]>", "[0.0.0.0]")]
    [InlineData("<u@[255.255.255.255]>", "[255.255.255.255]")]
    [InlineData("<u@[IPv6:::1]>", "[IPv6:::1]")]
    [InlineData("<u@[IPv6:2001:db8::1]>", "[IPv6:2001:db8::1]")]
    [InlineData("<u@[ipv6:2001:DB8:0:0:0:0:0:1]>", "[ipv6:2001:DB8:0:0:0:0:0:1]")]
    [InlineData("<u@[IPv6:::ffff:192.0.2.1]>", "[IPv6:::ffff:192.0.2.1]")]
    [InlineData("<u@[x-tag:any!content~here]>", "[x-tag:any!content~here]")]
    [InlineData("<u@[Tag9:a]>", "[Tag9:a]")]
    public void AddressLiteralsAreAcceptedWithTheirBrackets(string path, string domain)
    {
        AssertAccepted(path, "u", domain);
    }

    [Fact]
    public void ALocalPartOf64OctetsIsAccepted()
    {
        var local = new string('a', 64);

        AssertAccepted($"<{local}@example.com>", local, "example.com");
    }

    [Theory]
    [InlineData("<用户@例子.广告>", "用户", "例子.广告")]
    [InlineData("<jörg@bücher.example>", "jörg", "bücher.example")]
    [InlineData("<\"jö rg\"@example.com>", "\"jö rg\"", "example.com")]
    public void Utf8LocalPartsAndDomainsAreGrammatical(string path, string localPart, string domain)
    {
        // The caller decides whether SMTPUTF8 allows them (553 5.6.7 otherwise).
        AssertAccepted(path, localPart, domain);
    }

    [Fact]
    public void TheMailboxMayBeFollowedByParametersAndThePositionStopsAtTheBracket()
    {
        var path = "<u@example.com> SIZE=10";

        foreach (var rule in new[] { Rule.Reverse, Rule.Forward, Rule.Path })
        {
            Assert.Equal(new Outcome(PathError.None, "u", "example.com", 15), Parse(path, rule));
        }

        Assert.Equal(new Outcome(PathError.None, null, null, 2), Parse("<> SIZE=10", Rule.Reverse));
    }

    [Theory]
    [InlineData("<Postmaster>")]
    [InlineData("<postmaster>")]
    [InlineData("<POSTMASTER>")]
    public void PostmasterWithoutDomainIsAForwardPathOnly(string path)
    {
        Assert.Equal(new Outcome(PathError.None, path[1..^1], "", path.Length), Parse(path, Rule.Forward));
        Assert.Equal(PathError.Syntax, Parse(path, Rule.Reverse).Error);
        Assert.Equal(PathError.Syntax, Parse(path, Rule.Path).Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("<")]
    [InlineData("<@x>")]
    [InlineData("<@x:>")]
    [InlineData("<@x,u@example.com>")]
    [InlineData("<u@>")]
    [InlineData("<@example.com>")]
    [InlineData("<u>")]
    [InlineData("<u@example.com")]
    [InlineData("u@example.com")]
    [InlineData("u@example.com>")]
    [InlineData("<<u@example.com>>")]
    [InlineData("< u@example.com>")]
    [InlineData("<u@example.com >")]
    [InlineData("<u @example.com>")]
    [InlineData("<u@@example.com>")]
    [InlineData("<u@example..com>")]
    [InlineData("<u@.example.com>")]
    [InlineData("<u@example.com.>")]
    [InlineData("<.u@example.com>")]
    [InlineData("<u.@example.com>")]
    [InlineData("<u..v@example.com>")]
    [InlineData("<u(comment)@example.com>")]
    [InlineData("<\"unterminated@example.com>")]
    [InlineData("<\"a\"b@example.com>")]
    [InlineData("<\"a\\")]
    [InlineData("<u@exa_mple.com>")]
    public void MalformedPathsAreRejected(string path)
    {
        AssertRejected(path);
    }

    [Theory]
    [InlineData("<u@-example.com>")]
    [InlineData("<u@example-.com>")]
    [InlineData("<u@example.-com>")]
    [InlineData("<u@example.com->")]
    [InlineData("<u@->")]
    [InlineData("<@-relay.example:u@example.com>")]
    public void DomainLabelsMustNotStartOrEndWithAHyphen(string path)
    {
        AssertRejected(path);
    }

    [Theory]
    [InlineData("<u@[999.1.1.1]>")]
    [InlineData("<u@[256.0.0.1]>")]
    [InlineData("<u@[1.2.3]>")]
    [InlineData("<u@[1.2.3.4.5]>")]
    [InlineData("<u@[1.2.3.]>")]
    [InlineData("<u@[1..2.3]>")]
    [InlineData("<u@[0001.2.3.4]>")]
    [InlineData("<u@[]>")]
    [InlineData("<u@[127.0.0.1>")]
    [InlineData("<u@127.0.0.1]>")]
    [InlineData("<u@[IPv6:zz]>")]
    [InlineData("<u@[IPv6:]>")]
    [InlineData("<u@[IPv6:1]>")]
    [InlineData("<u@[IPv6:1::2::3]>")]
    [InlineData("<u@[IPv6:::1%eth0]>")]
    [InlineData("<u@[IPv6:127.0.0.1]>")]
    [InlineData("<u@[::1]>")]
    [InlineData("<u@[-tag:x]>")]
    [InlineData("<u@[tag-:x]>")]
    [InlineData("<u@[tag:]>")]
    [InlineData("<u@[:x]>")]
    [InlineData("<u@[tag:a b]>")]
    [InlineData("<u@[tag:a\\b]>")]
    [InlineData("<u@[tag:a[b]>")]
    public void MalformedAddressLiteralsAreRejected(string path)
    {
        AssertRejected(path);
    }

    [Fact]
    public void ALocalPartOf65OctetsIsLocalPartTooLong()
    {
        AssertRejected($"<{new string('a', 65)}@example.com>", PathError.LocalPartTooLong);
        AssertRejected($"<\"{new string('a', 63)}\"@example.com>", PathError.LocalPartTooLong);
    }

    [Fact]
    public void ADomainOver255OctetsIsDomainTooLong()
    {
        var domain = string.Join('.', Enumerable.Repeat(new string('d', 63), 4)); // 255 octets
        Assert.Equal(255, domain.Length);

        AssertRejected($"<u@{domain}x>", PathError.DomainTooLong);
    }

    [Fact]
    public void APathOfExactly256OctetsIsAcceptedAnd257IsPathTooLong()
    {
        // "<" + 64 + "@" + domain + ">" = 256 with a 189-octet domain.
        var local = new string('a', 64);
        var domain = $"{new string('d', 61)}.{new string('d', 62)}.{new string('d', 62)}.e"; // 189
        Assert.Equal(256, $"<{local}@{domain}>".Length);

        AssertAccepted($"<{local}@{domain}>", local, domain);
        AssertRejected($"<{local}@{domain}e>", PathError.PathTooLong);
    }

    [Fact]
    public void TheSourceRouteCountsTowardsThePathLength()
    {
        var route = string.Join(',', Enumerable.Repeat("@" + new string('r', 60) + ".example", 4));

        AssertRejected($"<{route}:u@example.com>", PathError.PathTooLong);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { 0xC3 })]
    [InlineData(new byte[] { 0xC0, 0xAF })]
    [InlineData(new byte[] { 0xE4, 0xBE })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0x80 })]
    public void InvalidUtf8IsRejected(byte[] bad)
    {
        AssertRejected([.. "<u"u8, .. bad, .. "@example.com>"u8], PathError.Syntax);
        AssertRejected([.. "<u@ex"u8, .. bad, .. "ample.com>"u8], PathError.Syntax);
        AssertRejected([.. "<\"u"u8, .. bad, .. "\"@example.com>"u8], PathError.Syntax);
    }
}
