using System.Text.RegularExpressions;

namespace Smtpd.Tests.Conventions;

/// <summary>
/// Test names are sentences in PascalCase (docs/contributing.md), in every test project: this reads the sources of
/// all of them, since no one test assembly can load the others.
/// </summary>
public sealed partial class TestNameTests
{
    [Fact]
    public void NoTestMethodInAnyTestProjectHasAnUnderscoreOrAShouldOrTestPrefix()
    {
        var tests = Path.Combine(Repository.Root, "tests");
        var offenders = new List<string>();
        var scanned = 0;
        foreach (var file in Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(Repository.Root, file);
            if (relative.Split(Path.DirectorySeparatorChar) is var parts && (parts.Contains("bin") || parts.Contains("obj")))
            {
                continue;
            }

            var source = File.ReadAllText(file);
            var names = TestMethodNames(source).ToList();
            var attributes = TestAttribute().Count(source);
            if (names.Count != attributes)
            {
                // The scan must read every test: one it cannot parse is reported, not skipped.
                offenders.Add($"{relative}: {attributes} [Fact]/[Theory] attributes but {names.Count} test names read");
            }

            foreach (var name in names)
            {
                scanned++;
                if (!IsSentenceName(name))
                {
                    offenders.Add($"{relative}: {name}");
                }
            }
        }

        // Hundreds of tests exist: a scan that finds few has lost its way (a moved folder, a changed attribute).
        Assert.True(scanned > 500, $"Only {scanned} test methods found under {tests}.");
        Assert.True(offenders.Count == 0, "Test names must be PascalCase sentences:\n" + string.Join("\n", offenders));
    }

    [Theory]
    [InlineData("    [Fact]\n    public void A_b() { }", "A_b")]
    [InlineData("    [Theory]\n    [InlineData(1)] // one\n    public void Commented_data(int x) { }", "Commented_data")]
    [InlineData("    [Theory]\n    [InlineData(1)]\n    public async Task Should_work(int x) { }", "Should_work")]
    [InlineData("    [Fact(Skip = \"x\")]\n    public async ValueTask DataEndsOnlyOnCrLfDotCrLf() { }", "DataEndsOnlyOnCrLfDotCrLf")]
    [InlineData("    [Theory]\n    [InlineData(\"a]b\", new long[] { 1 }, new long[0])]\n    public void Closing_bracket_in_data(string s) { }", "Closing_bracket_in_data")]
    public void TheScanFindsTheNameOfEveryKindOfTestMethod(string source, string name) =>
        Assert.Equal([name], TestMethodNames(source));

    [Theory]
    [InlineData("DataEndsOnlyOnCrLfDotCrLf", true)]
    [InlineData("Data_ends_only_on_CRLF", false)]
    [InlineData("ShouldEndDataOnCrLf", false)]
    [InlineData("TestDataEnds", false)]
    [InlineData("TheTestServerSpeaksSmtp", true)]
    [InlineData("dataEnds", false)]
    public void ASentenceNameIsPascalCaseWithoutUnderscoresOrPrefixes(string name, bool sentence) =>
        Assert.Equal(sentence, IsSentenceName(name));

    private static IEnumerable<string> TestMethodNames(string source) =>
        TestMethod().Matches(source).Select(m => m.Groups["name"].Value);

    private static bool IsSentenceName(string name) =>
        char.IsUpper(name[0])
        && !name.Contains('_', StringComparison.Ordinal)
        && !ForbiddenPrefix().IsMatch(name);

    // An xunit [Fact] or [Theory] (with arguments or not), any further attributes, then the method's name. A ']'
    // inside a string argument or an array type (new long[] { 1 }) does not end an attribute; line comments may
    // follow one.
    [GeneratedRegex(@"\[(?:Fact|Theory)\b(?:[^\[\]""]|""(?:[^""\\]|\\.)*""|\[\w*\])*\](?:(?:\s|//[^\n]*)*\[(?:[^\[\]""]|""(?:[^""\\]|\\.)*""|\[\w*\])*\])*(?:\s|//[^\n]*)*(?:public|private|internal)?\s*(?:static\s+)?(?:async\s+)?(?:Task|ValueTask|void)\s+(?<name>\w+)\s*\(")]
    private static partial Regex TestMethod();

    [GeneratedRegex(@"^\s*\[(?:Fact|Theory)\b", RegexOptions.Multiline)]
    private static partial Regex TestAttribute();

    [GeneratedRegex(@"^(?:Should|Test)(?=[A-Z])")]
    private static partial Regex ForbiddenPrefix();
}
