using System.Net;
using System.Text.RegularExpressions;
using MimeKit;

namespace Smtpd.Testing;

/// <summary>Finds what tests look for in a message body: the readable text, links and one-time codes.</summary>
internal static partial class MessageText
{
    /// <summary>The plain text of a message: its text/plain body, else its HTML body reduced to text.</summary>
    public static string GetText(MimeMessage message) =>
        message.TextBody ?? (message.HtmlBody is { } html ? HtmlToText(html) : string.Empty);

    /// <summary>Every http(s) link, in document order: the HTML body's hrefs when there is one, else the URLs in the text.</summary>
    public static IEnumerable<Uri> FindLinks(MimeMessage message)
    {
        if (message.HtmlBody is { } html)
        {
            foreach (Match match in HrefPattern().Matches(html))
            {
                if (TryMakeLink(WebUtility.HtmlDecode(match.Groups["url"].Value.Trim()), out var link))
                {
                    yield return link;
                }
            }
        }

        if (message.TextBody is { } text)
        {
            foreach (var link in FindLinks(text))
            {
                yield return link;
            }
        }
    }

    /// <summary>The first run of <paramref name="minDigits"/> to <paramref name="maxDigits"/> digits that stands alone, outside any URL.</summary>
    public static string? FindCode(string text, int minDigits, int maxDigits)
    {
        var withoutLinks = UrlPattern().Replace(text, " ");
        var pattern = new Regex($@"(?<![\p{{L}}\p{{N}}_])\p{{Nd}}{{{minDigits},{maxDigits}}}(?![\p{{L}}\p{{N}}_])", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        var match = pattern.Match(withoutLinks);
        return match.Success ? match.Value : null;
    }

    public static string HtmlToText(string html)
    {
        var text = ScriptOrStylePattern().Replace(html, " ");
        text = BreakPattern().Replace(text, "\n");
        text = TagPattern().Replace(text, " ");
        text = WebUtility.HtmlDecode(text);
        // Markup leaves runs of spaces; collapse them within each line so the text reads as the mail displays.
        return string.Join('\n', text.Split('\n').Select(line => SpacesPattern().Replace(line, " ").Trim()).Where(line => line.Length > 0));
    }

    public static string Excerpt(string text, int length = 300)
    {
        var flat = WhitespacePattern().Replace(text, " ").Trim();
        return flat.Length <= length ? flat : string.Concat(flat.AsSpan(0, length), "…");
    }

    private static IEnumerable<Uri> FindLinks(string text)
    {
        foreach (Match match in UrlPattern().Matches(text))
        {
            // Sentence punctuation right after a URL belongs to the sentence.
            if (TryMakeLink(match.Value.TrimEnd('.', ',', ';', ':', '!', '?', ')', ']', '\'', '"'), out var link))
            {
                yield return link;
            }
        }
    }

    private static bool TryMakeLink(string candidate, out Uri link) =>
        Uri.TryCreate(candidate, UriKind.Absolute, out link!) && (link.Scheme == Uri.UriSchemeHttp || link.Scheme == Uri.UriSchemeHttps);

    [GeneratedRegex(@"<a\b[^>]*?\bhref\s*=\s*(?:""(?<url>[^""]*)""|'(?<url>[^']*)'|(?<url>[^\s>]+))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex HrefPattern();

    [GeneratedRegex(@"https?://[^\s<>""']+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex UrlPattern();

    [GeneratedRegex(@"<(script|style)\b.*?</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ScriptOrStylePattern();

    [GeneratedRegex(@"<(br|/p|/div|/tr|/h[1-6]|/li)\b[^>]*>", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex BreakPattern();

    [GeneratedRegex(@"<[^>]*>", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"[^\S\n]+", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex SpacesPattern();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex WhitespacePattern();
}
