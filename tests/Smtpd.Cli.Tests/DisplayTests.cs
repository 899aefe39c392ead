using Smtpd.Cli.Commands;
using Smtpd.Cli.Output;

namespace Smtpd.Cli.Tests;

/// <summary>Display width, column fitting and safe attachment names, in process.</summary>
public sealed class DisplayTests
{
    [Theory]
    [InlineData("abc", 3)]
    [InlineData("日本語", 6)]
    [InlineData("한국", 4)]
    [InlineData("ｆｕｌｌ", 8)]
    [InlineData("🎉", 2)]
    [InlineData("e\u0301", 1)]
    [InlineData("\u2764\uFE0F", 2)]
    [InlineData("\u2764", 1)]
    [InlineData("👨\u200D👩\u200D👧", 2)]
    [InlineData("Ελληνικά", 8)]
    [InlineData("", 0)]
    public void DisplayWidthCountsTerminalCells(string text, int cells) =>
        Assert.Equal(cells, DisplayWidth.Of(text));

    [Theory]
    [InlineData("short", 8, "short   ")]
    [InlineData("exactly8", 8, "exactly8")]
    [InlineData("too long text", 8, "too lon…")]
    [InlineData("日本語の件名", 8, "日本語… ")]
    [InlineData("ab🎉🎉", 5, "ab🎉…")]
    [InlineData("tab\tand\u001b[31mescape", 20, "tab and [31mescape  ")]
    public void FitCutsAtAWholeCharacterAndPadsToTheExactWidth(string text, int width, string expected)
    {
        var fitted = Terminal.Fit(text, width);

        Assert.Equal(expected, fitted);
        Assert.Equal(width, DisplayWidth.Of(fitted));
    }

    [Theory]
    [InlineData("report.pdf", "report.pdf")]
    [InlineData("../../etc/passwd", "passwd")]
    [InlineData("..\\..\\windows\\evil.bat", "evil.bat")]
    [InlineData("/absolute/path.txt", "path.txt")]
    [InlineData("..", "attachment-3")]
    [InlineData(".bashrc", "bashrc")]
    [InlineData("a\u0000b\u001bc:d*e?.txt", "a_b_c_d_e_.txt")]
    [InlineData("   ", "attachment-3")]
    [InlineData(null, "attachment-3")]
    public void SafeFileNameKeepsTheNameInsideTheFolder(string? name, string expected) =>
        Assert.Equal(expected, ShownAttachment.SafeFileName(name, 3));

    [Fact]
    public void SafeFileNameShortensALongNameAndKeepsItsExtension()
    {
        var name = ShownAttachment.SafeFileName(new string('x', 500) + ".pdf", 1);

        Assert.Equal(120, name.Length);
        Assert.EndsWith("x.pdf", name, StringComparison.Ordinal);
    }
}
