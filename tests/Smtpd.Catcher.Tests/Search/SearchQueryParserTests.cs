using Smtpd.Catcher.Search;

namespace Smtpd.Catcher.Tests.Search;

public sealed class SearchQueryParserTests
{
    private static SearchTerm Single(string query) => Assert.Single(SearchQuery.Parse(query).Terms);

    private static SearchSyntaxException Error(string query, SearchLimits? limits = null) =>
        Assert.Throws<SearchSyntaxException>(() => SearchQuery.Parse(query, limits));

    private static readonly Dictionary<string, SearchTerm> ExpectedTerms = new(StringComparer.Ordinal)
    {
        { "hello", new TextTerm(0, false, "hello", false) },
        { "\"hello world\"", new TextTerm(0, false, "hello world", true) },
        { "from:alice@example.com", new AddressTerm(0, false, AddressField.From, "alice@example.com") },
        { "to:bob", new AddressTerm(0, false, AddressField.To, "bob") },
        { "cc:carol", new AddressTerm(0, false, AddressField.Cc, "carol") },
        { "bcc:dave", new AddressTerm(0, false, AddressField.Bcc, "dave") },
        { "reply-to:erin", new AddressTerm(0, false, AddressField.ReplyTo, "erin") },
        { "addressed:frank", new AddressTerm(0, false, AddressField.Addressed, "frank") },
        { "subject:invoice", new SubjectTerm(0, false, "invoice") },
        { "message-id:abc@host", new MessageIdTerm(0, false, "abc@host") },
        { "tag:urgent", new TagTerm(0, false, "urgent") },
        { "is:read", new StateTerm(0, false, MessageState.Read) },
        { "is:unread", new StateTerm(0, false, MessageState.Unread) },
        { "is:tagged", new StateTerm(0, false, MessageState.Tagged) },
        { "has:attachment", new HasTerm(0, false, PartKind.Attachment) },
        { "has:attachments", new HasTerm(0, false, PartKind.Attachment) },
        { "has:inline", new HasTerm(0, false, PartKind.Inline) },
        { "has:inlines", new HasTerm(0, false, PartKind.Inline) },
        { "before:2024-04-01", new DateTerm(0, false, DateBound.Before, new SearchDate(new DateTime(2024, 4, 1), null)) },
        { "after:2024/04/01", new DateTerm(0, false, DateBound.After, new SearchDate(new DateTime(2024, 4, 1), null)) },
        { "larger:10K", new SizeTerm(0, false, SizeBound.Larger, 10 * 1024) },
        { "smaller:2MB", new SizeTerm(0, false, SizeBound.Smaller, 2 * 1024 * 1024) },
        { "header:X-Mailer=PHPMailer", new HeaderTerm(0, false, "X-Mailer", "PHPMailer") },
        { "header:List-Unsubscribe", new HeaderTerm(0, false, "List-Unsubscribe", null) },
    };

    public static TheoryData<string> EveryTermKind => [.. ExpectedTerms.Keys];

    [Theory]
    [MemberData(nameof(EveryTermKind))]
    public void EachTermKindParsesToItsOwnRecord(string query) => Assert.Equal(ExpectedTerms[query], Single(query));

    [Theory]
    [MemberData(nameof(EveryTermKind))]
    public void ADashOrAnExclamationMarkNegatesEveryTermKind(string query)
    {
        var expected = ExpectedTerms[query];
        Assert.Equal(expected with { Negated = true }, Single("-" + query));
        Assert.Equal(expected with { Negated = true }, Single("!" + query));
    }

    [Theory]
    [MemberData(nameof(EveryTermKind))]
    public void PrefixesAndKeywordsAreReadInAnyLetterCase(string query)
    {
        var expected = ExpectedTerms[query];
        var colon = query.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || query.StartsWith('"'))
        {
            return;
        }

        var upper = query[..colon].ToUpperInvariant() + query[colon..];
        Assert.Equal(expected, Single(upper));
        if (expected is StateTerm or HasTerm)
        {
            Assert.Equal(expected, Single(query.ToUpperInvariant()));
        }
    }

    [Fact]
    public void QueriesSplitAtEveryTermBoundaryParseToTheSameTermsAsTheWhole()
    {
        string[] pieces = ["hello", "\"two words\"", "-from:alice", "!is:read", "tag:\"two words\"", "subject:\"a: b\"", "larger:1.5M",
            "before:\"2024-04-01 10:00\"", "header:X-Id=\"a b=c\"", "foo:bar", "-", "!has:inline", "message-id:<x@y>"];
        var whole = string.Join("  ", pieces);
        var expected = new List<SearchTerm>();
        var offset = 0;
        foreach (var piece in pieces)
        {
            expected.AddRange(SearchQuery.Parse(piece).Terms.Select(t => Shift(t, offset)));
            offset += piece.Length + 2;
        }

        Assert.Equal(expected, SearchQuery.Parse(whole).Terms);
        Assert.Equal(pieces.Length, expected.Count);
    }

    private static SearchTerm Shift(SearchTerm term, int offset) => term with { Position = term.Position + offset };

    [Fact]
    public void EveryPrefixOfAQueryParsesOrFailsWithASyntaxError()
    {
        const string query = "-from:\"Alice Example\" !is:read tag:x has:attachment before:2024-04-01T10:00:00+02:00 larger:1.5MB header:X-A=b \"quoted phrase\" !word";
        for (var length = 0; length <= query.Length; length++)
        {
            try
            {
                SearchQuery.Parse(query[..length]);
            }
            catch (SearchSyntaxException ex)
            {
                Assert.InRange(ex.Position, 0, length);
                Assert.DoesNotContain('\n', ex.Message);
            }
        }
    }

    [Fact]
    public void TermsAreSeparatedByAnyWhiteSpaceAndTheirPositionsAreTheirOffsets()
    {
        var terms = SearchQuery.Parse("  a\tfrom:b\r\n-c ").Terms;
        Assert.Equal([new TextTerm(2, false, "a", false), new AddressTerm(4, false, AddressField.From, "b"), new TextTerm(12, true, "c", false)], terms);
    }

    [Fact]
    public void AnEmptyOrBlankQueryHasNoTerms()
    {
        Assert.Empty(SearchQuery.Parse("").Terms);
        Assert.Empty(SearchQuery.Parse("   \t ").Terms);
        Assert.Empty(SearchQuery.Parse("\"\" -\"\"").Terms);
    }

    [Fact]
    public void ADashOrExclamationMarkAloneIsAWordNotANegation()
    {
        Assert.Equal(new TextTerm(0, false, "-", false), Single("-"));
        Assert.Equal(new TextTerm(0, false, "!", false), Single("! "));
        Assert.Equal(new TextTerm(1, true, "-x", false), Single(" --x"));
    }

    [Fact]
    public void QuotedValuesKeepSpacesAndColons()
    {
        Assert.Equal(new TagTerm(0, false, "two words"), Single("tag:\"two words\""));
        Assert.Equal(new SubjectTerm(0, false, "Re: your order"), Single("subject:\"Re: your order\""));
        Assert.Equal(new AddressTerm(1, true, AddressField.From, "John Doe"), Single(" -from:\"John Doe\""));
        Assert.Equal(new TextTerm(0, true, "exact phrase", true), Single("-\"exact phrase\""));
    }

    [Fact]
    public void AQuoteInsideATermJoinsWhatFollowsAsMailpitDoes()
    {
        Assert.Equal(new TextTerm(0, false, "ab c", false), Single("a\"b c\""));
        Assert.Equal(new TextTerm(0, false, "a bc", true), Single("\"a b\"c"));
        Assert.Equal(new SubjectTerm(0, false, "x yz"), Single("subject:x\" y\"z"));
    }

    [Fact]
    public void ATermThatBeginsWithAQuoteIsTextEvenWhenItLooksLikeAPrefix() =>
        Assert.Equal(new TextTerm(0, false, "from:alice", true), Single("\"from:alice\""));

    [Fact]
    public void AnUnknownPrefixIsFreeTextAsInMailpit()
    {
        Assert.Equal(new TextTerm(0, false, "foo:bar", false), Single("foo:bar"));
        Assert.Equal(new TextTerm(0, false, "http://example.com/x", false), Single("http://example.com/x"));
        Assert.Equal(new TextTerm(0, false, "foo:from:x", false), Single("foo:from:x"));
    }

    [Fact]
    public void OnlyTheFirstColonEndsAPrefix()
    {
        Assert.Equal(new MessageIdTerm(0, false, "a:b@c"), Single("message-id:a:b@c"));
        Assert.Equal(new HeaderTerm(0, false, "X-A", "b:c=d"), Single("header:X-A=b:c=d"));
    }

    [Fact]
    public void AngleBracketsAroundAddressesAndMessageIdsAreDropped()
    {
        Assert.Equal(new AddressTerm(0, false, AddressField.From, "a@b.example"), Single("from:<a@b.example>"));
        Assert.Equal(new MessageIdTerm(0, false, "123@host"), Single("message-id:<123@host>"));
    }

    [Theory]
    [InlineData("2024-04-01", 2024, 4, 1, 0, 0, 0)]
    [InlineData("2024-4-1", 2024, 4, 1, 0, 0, 0)]
    [InlineData("2024/04/01", 2024, 4, 1, 0, 0, 0)]
    [InlineData("04/01/2024", 2024, 4, 1, 0, 0, 0)]
    [InlineData("2024-04-01T10:30", 2024, 4, 1, 10, 30, 0)]
    [InlineData("2024-04-01t10:30:15", 2024, 4, 1, 10, 30, 15)]
    [InlineData("\"2024-04-01 10:30\"", 2024, 4, 1, 10, 30, 0)]
    [InlineData("\"2024/04/01 10:30:15\"", 2024, 4, 1, 10, 30, 15)]
    public void DatesWithoutAnOffsetAreWallClockTimes(string value, int year, int month, int day, int hour, int minute, int second)
    {
        var term = Assert.IsType<DateTerm>(Single("after:" + value));
        Assert.Equal(new SearchDate(new DateTime(year, month, day, hour, minute, second), null), term.Date);
    }

    [Theory]
    [InlineData("2024-04-01T10:30:00Z", 0)]
    [InlineData("2024-04-01T10:30:00z", 0)]
    [InlineData("2024-04-01T10:30:00+02:00", 120)]
    [InlineData("2024-04-01T10:30-05:30", -330)]
    public void DatesWithAnOffsetKeepIt(string value, int offsetMinutes)
    {
        var term = Assert.IsType<DateTerm>(Single("before:" + value));
        Assert.Equal(TimeSpan.FromMinutes(offsetMinutes), term.Date.Offset);
        Assert.Equal(new DateTimeOffset(2024, 4, 1, 10, 30, 0, TimeSpan.FromMinutes(offsetMinutes)), term.Date.ToUtc(TimeZoneInfo.Utc));
    }

    [Fact]
    public void ADateWithoutAnOffsetIsResolvedInTheCallersTimeZone()
    {
        var date = Assert.IsType<DateTerm>(Single("after:2024-04-01")).Date;
        var plusTwo = TimeZoneInfo.CreateCustomTimeZone("Test+2", TimeSpan.FromHours(2), "Test+2", "Test+2");
        Assert.Equal(new DateTimeOffset(2024, 3, 31, 22, 0, 0, TimeSpan.Zero), date.ToUtc(plusTwo));
        Assert.Equal(new DateTimeOffset(2024, 4, 1, 0, 0, 0, TimeSpan.Zero), date.ToUtc(TimeZoneInfo.Utc));
    }

    [Fact]
    public void ATimeSkippedByADaylightSavingChangeTakesTheStandardOffsetAndExtremesAreClamped()
    {
        // A zone at +1 that springs forward to +2 at 02:00 on the last Sunday of March: 02:30 that day never happens.
        var rule = TimeZoneInfo.AdjustmentRule.CreateAdjustmentRule(DateTime.MinValue.Date, DateTime.MaxValue.Date, TimeSpan.FromHours(1),
            TimeZoneInfo.TransitionTime.CreateFloatingDateRule(new DateTime(1, 1, 1, 2, 0, 0), 3, 5, DayOfWeek.Sunday),
            TimeZoneInfo.TransitionTime.CreateFloatingDateRule(new DateTime(1, 1, 1, 3, 0, 0), 10, 5, DayOfWeek.Sunday));
        var zone = TimeZoneInfo.CreateCustomTimeZone("Test DST", TimeSpan.FromHours(1), "Test DST", "Test", "Test Summer", [rule]);
        var gap = Assert.IsType<DateTerm>(Single("after:\"2024-03-31 02:30\"")).Date;
        Assert.Equal(new DateTimeOffset(2024, 3, 31, 1, 30, 0, TimeSpan.Zero), gap.ToUtc(zone));
        var summer = Assert.IsType<DateTerm>(Single("after:2024-07-01")).Date;
        Assert.Equal(new DateTimeOffset(2024, 6, 30, 22, 0, 0, TimeSpan.Zero), summer.ToUtc(zone));

        var farEast = TimeZoneInfo.CreateCustomTimeZone("Test+14", TimeSpan.FromHours(14), "Test+14", "Test+14");
        Assert.Equal(DateTimeOffset.MinValue, Assert.IsType<DateTerm>(Single("after:0001-01-01")).Date.ToUtc(farEast));
        var farWest = TimeZoneInfo.CreateCustomTimeZone("Test-12", TimeSpan.FromHours(-12), "Test-12", "Test-12");
        Assert.Equal(DateTimeOffset.MaxValue, Assert.IsType<DateTerm>(Single("after:\"9999-12-31 23:00\"")).Date.ToUtc(farWest));
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("500", 500L)]
    [InlineData("500b", 500L)]
    [InlineData("10k", 10_240L)]
    [InlineData("10KB", 10_240L)]
    [InlineData("10kB", 10_240L)]
    [InlineData("1.5M", 1_572_864L)]
    [InlineData("2mb", 2_097_152L)]
    [InlineData("1G", 1_073_741_824L)]
    [InlineData("1.25gb", 1_342_177_280L)]
    [InlineData("\"10 KB\"", 10_240L)]
    [InlineData("0.5k", 512L)]
    [InlineData("1.0001k", 1024L)]
    public void SizesTakeBinaryUnitsInAnyLetterCase(string value, long bytes) =>
        Assert.Equal(new SizeTerm(0, false, SizeBound.Larger, bytes), Single("larger:" + value));

    public static TheoryData<string, string, int> EveryError => new()
    {
        { "hello \"world", nameof(SearchSyntaxError.UnterminatedQuote), 6 },
        { "subject:\"open", nameof(SearchSyntaxError.UnterminatedQuote), 8 },
        { "a \"b\" c\"d", nameof(SearchSyntaxError.UnterminatedQuote), 7 },
        { "x\0y", nameof(SearchSyntaxError.ControlCharacter), 1 },
        { "ok \u001b[31m", nameof(SearchSyntaxError.ControlCharacter), 3 },
        { "from:", nameof(SearchSyntaxError.EmptyValue), 5 },
        { "a -to:\"\"", nameof(SearchSyntaxError.EmptyValue), 6 },
        { "from:<>", nameof(SearchSyntaxError.EmptyValue), 5 },
        { "tag:\" \"", nameof(SearchSyntaxError.EmptyValue), 4 },
        { "is:", nameof(SearchSyntaxError.EmptyValue), 3 },
        { "is:starred", nameof(SearchSyntaxError.UnknownIsValue), 3 },
        { "x !is:new", nameof(SearchSyntaxError.UnknownIsValue), 6 },
        { "has:pdf", nameof(SearchSyntaxError.UnknownHasValue), 4 },
        { "before:yesterday", nameof(SearchSyntaxError.BadDate), 7 },
        { "after:2024-13-01", nameof(SearchSyntaxError.BadDate), 6 },
        { "after:2024-02-30", nameof(SearchSyntaxError.BadDate), 6 },
        { "after:01/04/24", nameof(SearchSyntaxError.BadDate), 6 },
        { "after:2024-04-01T25:00", nameof(SearchSyntaxError.BadDate), 6 },
        { "larger:big", nameof(SearchSyntaxError.BadSize), 7 },
        { "larger:10x", nameof(SearchSyntaxError.BadSize), 7 },
        { "smaller:1.", nameof(SearchSyntaxError.BadSize), 8 },
        { "smaller:.5", nameof(SearchSyntaxError.BadSize), 8 },
        { "smaller:-5", nameof(SearchSyntaxError.BadSize), 8 },
        { "larger:\"10  KB\"", nameof(SearchSyntaxError.BadSize), 7 },
        { "larger:99999999999999999999", nameof(SearchSyntaxError.BadSize), 7 },
        { "larger:9999999999999999999G", nameof(SearchSyntaxError.BadSize), 7 },
        { "header:=x", nameof(SearchSyntaxError.BadHeaderName), 7 },
        { "header:\"Two Words=x\"", nameof(SearchSyntaxError.BadHeaderName), 7 },
        { "header:X-A:b=c", nameof(SearchSyntaxError.BadHeaderName), 7 },
    };

    [Theory]
    [MemberData(nameof(EveryError))]
    public void EachDocumentedErrorIsReportedAtItsExactOffset(string query, string error, int position)
    {
        var ex = Error(query);
        Assert.Equal(error, ex.Error.ToString());
        Assert.Equal(position, ex.Position);
        Assert.Equal($"bad search query: {ex.Reason} at offset {position}", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void AQuotedLineBreakInABadValueStaysOnOneLineInTheMessage()
    {
        var ex = Error("is:\"a\r\nb\"");
        Assert.Equal("bad search query: unknown is: value 'a\\u000D\\u000Ab' (expected read, unread or tagged) at offset 3", ex.Message);
    }

    [Fact]
    public void TheErrorMessageNamesTheBadValueAndWhatWasExpected()
    {
        Assert.Equal("bad search query: unknown is: value 'starred' (expected read, unread or tagged) at offset 3", Error("is:starred").Message);
        Assert.Equal("bad search query: unterminated quote at offset 0", Error("\"abc").Message);
        Assert.Contains("YYYY-MM-DD", Error("after:soon").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AQueryLongerThanTheLimitIsRefusedAtTheLimit()
    {
        Assert.Single(SearchQuery.Parse(new string('a', SearchLimits.DefaultMaxQueryLength)).Terms);
        var ex = Error(new string('a', SearchLimits.DefaultMaxQueryLength + 1));
        Assert.Equal((SearchSyntaxError.QueryTooLong, 1000), (ex.Error, ex.Position));
        Assert.Equal(SearchSyntaxError.QueryTooLong, Error("abcdef", new SearchLimits { MaxQueryLength = 5 }).Error);
    }

    [Fact]
    public void MoreTermsThanTheLimitAreRefusedAtTheFirstTermTooMany()
    {
        var query = string.Join(' ', Enumerable.Range(0, 33).Select(i => "w" + i));
        Assert.Equal(32, SearchQuery.Parse(query[..query.LastIndexOf(' ')]).Terms.Count);
        var ex = Error(query);
        Assert.Equal((SearchSyntaxError.TooManyTerms, query.LastIndexOf(' ') + 1), (ex.Error, ex.Position));
        Assert.Equal(4, Error("a b c", new SearchLimits { MaxTerms = 2 }).Position);
    }

    [Fact]
    public void LimitsHaveDocumentedDefaultsAndRefuseValuesOutOfRange()
    {
        var limits = new SearchLimits();
        Assert.Equal((1000, 32), (limits.MaxQueryLength, limits.MaxTerms));
        Assert.Equal((1, 1), (new SearchLimits { MaxQueryLength = 1, MaxTerms = 1 }.MaxQueryLength, new SearchLimits { MaxTerms = 1 }.MaxTerms));
        Assert.Equal(100_000, new SearchLimits { MaxQueryLength = 100_000 }.MaxQueryLength);
        Assert.Equal(256, new SearchLimits { MaxTerms = 256 }.MaxTerms);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SearchLimits { MaxQueryLength = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SearchLimits { MaxQueryLength = 100_001 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SearchLimits { MaxTerms = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SearchLimits { MaxTerms = 257 });
    }
}
