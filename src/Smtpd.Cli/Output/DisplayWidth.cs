using System.Buffers;
using System.Globalization;
using System.Text;

namespace Smtpd.Cli.Output;

/// <summary>
/// How many terminal cells text takes, so that <c>list</c> keeps its columns aligned with Chinese, Japanese and
/// Korean text and with emoji. .NET has no <c>wcwidth</c>; this follows Unicode's East Asian Width property
/// (UAX #11) the way terminals do: Wide and Fullwidth characters take two cells, combining marks and format
/// characters none, everything else one.
/// </summary>
/// <remarks>
/// Width is counted per text element (grapheme cluster, <see cref="StringInfo"/>), from its first code point: an
/// accent on a letter adds nothing, and an emoji sequence joined with ZWJ (a family, a flag) counts as the two cells
/// that current terminals draw it in. A narrow symbol followed by VARIATION SELECTOR-16 (emoji presentation, as in
/// U+2764 U+FE0F) takes two cells. Ambiguous-width characters (Greek, Cyrillic, box drawing) count as one, as
/// terminals outside East Asian locales draw them.
/// </remarks>
internal static class DisplayWidth
{
    /// <summary>
    /// The East Asian Wide (W) and Fullwidth (F) ranges of Unicode 15.1's EastAsianWidth.txt, merged where
    /// neighbouring ranges touch; within the emoji blocks, the few text-presentation symbols are counted wide too,
    /// which keeps the table short and errs on the side of a wider column.
    /// </summary>
    private static readonly (int First, int Last)[] Wide =
    [
        (0x1100, 0x115F), (0x231A, 0x231B), (0x2329, 0x232A), (0x23E9, 0x23EC), (0x23F0, 0x23F0), (0x23F3, 0x23F3),
        (0x25FD, 0x25FE), (0x2614, 0x2615), (0x2648, 0x2653), (0x267F, 0x267F), (0x2693, 0x2693), (0x26A1, 0x26A1),
        (0x26AA, 0x26AB), (0x26BD, 0x26BE), (0x26C4, 0x26C5), (0x26CE, 0x26CE), (0x26D4, 0x26D4), (0x26EA, 0x26EA),
        (0x26F2, 0x26F3), (0x26F5, 0x26F5), (0x26FA, 0x26FA), (0x26FD, 0x26FD), (0x2705, 0x2705), (0x270A, 0x270B),
        (0x2728, 0x2728), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755), (0x2757, 0x2757), (0x2795, 0x2797),
        (0x27B0, 0x27B0), (0x27BF, 0x27BF), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55),
        (0x2E80, 0x303E), (0x3041, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xA4CF), (0xA960, 0xA97F),
        (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE10, 0xFE19), (0xFE30, 0xFE6F), (0xFF00, 0xFF60), (0xFFE0, 0xFFE6),
        (0x16FE0, 0x16FE4), (0x17000, 0x18CFF), (0x1B000, 0x1B2FF), (0x1F004, 0x1F004), (0x1F0CF, 0x1F0CF),
        (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F200, 0x1F202), (0x1F210, 0x1F23B), (0x1F240, 0x1F248),
        (0x1F250, 0x1F251), (0x1F260, 0x1F265), (0x1F300, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F7E0, 0x1F7EB),
        (0x1F90C, 0x1F9FF), (0x1FA70, 0x1FAFF), (0x20000, 0x2FFFD), (0x30000, 0x3FFFD),
    ];

    /// <summary>The cells <paramref name="text"/> takes in a terminal.</summary>
    /// <param name="text">Text without control characters.</param>
    /// <returns>The width in cells.</returns>
    public static int Of(string text)
    {
        var width = 0;
        var elements = StringInfo.GetTextElementEnumerator(text);
        while (elements.MoveNext())
        {
            width += OfTextElement(elements.GetTextElement());
        }

        return width;
    }

    /// <summary>The cells one code point takes on its own.</summary>
    /// <param name="rune">The code point.</param>
    /// <returns>0, 1 or 2.</returns>
    public static int Of(Rune rune)
    {
        var category = Rune.GetUnicodeCategory(rune);
        if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format or UnicodeCategory.Control
            || rune.Value is >= 0x1160 and <= 0x11FF)
        {
            // Combining marks, ZERO WIDTH JOINER and the like, and Hangul medial vowels and final consonants, which
            // join the syllable before them.
            return 0;
        }

        return IsWide(rune.Value) ? 2 : 1;
    }

    private static int OfTextElement(string element)
    {
        if (Rune.DecodeFromUtf16(element, out var first, out _) != OperationStatus.Done)
        {
            return 1;
        }

        var width = Of(first);
        return width == 1 && element.Contains('\uFE0F', StringComparison.Ordinal) ? 2 : width;
    }

    private static bool IsWide(int value)
    {
        int low = 0, high = Wide.Length - 1;
        while (low <= high)
        {
            var middle = (low + high) / 2;
            if (value < Wide[middle].First)
            {
                high = middle - 1;
            }
            else if (value > Wide[middle].Last)
            {
                low = middle + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }
}
