using System.Text;
using System.Text.RegularExpressions;
using MimeKit;
using MimeKit.Text;
using Smtpd.Catcher.Mime;

namespace Smtpd.Catcher.Http;

/// <summary>Finds links and one-time codes in a message's bodies, for <c>/links</c> and <c>/codes</c>.</summary>
internal static partial class ContentExtraction
{
    /// <summary>The most links or codes one answer lists: a hostile message cannot make the answer unbounded.</summary>
    public const int MaxItems = 1000;

    /// <summary>How many characters of context each side of a code: about a sentence's worth of words.</summary>
    private const int ContextChars = 40;

    /// <summary>Words that mark a number as a code rather than an amount or a year.</summary>
    private static readonly string[] CodeWords = ["code", "otp", "pin", "passcode", "password", "verif", "one-time", "one time", "token", "security", "confirm", "login", "sign in"];

    /// <summary>Every http and https link, from the HTML's anchors (with their text) and the text body, first occurrence first.</summary>
    /// <param name="text">The text body, or empty.</param>
    /// <param name="html">The HTML body, or empty.</param>
    /// <returns>The links.</returns>
    public static List<ApiLink> Links(string text, string html)
    {
        var links = new List<ApiLink>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (html.Length > 0)
        {
            var tokenizer = new HtmlTokenizer(new StringReader(html));
            string? href = null;
            var anchorText = new StringBuilder();
            while (links.Count < MaxItems && tokenizer.ReadNextToken(out var token))
            {
                switch (token)
                {
                    case HtmlTagToken { Id: HtmlTagId.A, IsEndTag: false } tag:
                        href = tag.Attributes.FirstOrDefault(a => a.Id == HtmlAttributeId.Href)?.Value?.Trim();
                        anchorText.Clear();
                        break;
                    case HtmlDataToken data when href is not null:
                        anchorText.Append(data.Data);
                        break;
                    case HtmlTagToken { Id: HtmlTagId.A, IsEndTag: true }:
                        Add(links, seen, href, MessageParts.Collapse(anchorText.ToString(), 200), "html");
                        href = null;
                        break;
                    default:
                        break;
                }
            }

            Add(links, seen, href, MessageParts.Collapse(anchorText.ToString(), 200), "html");
        }

        foreach (Match match in UrlPattern().Matches(text))
        {
            if (links.Count >= MaxItems)
            {
                break;
            }

            Add(links, seen, match.Value.TrimEnd('.', ',', ';', ':', '!', '?', ')', ']', '}', '\''), string.Empty, "text");
        }

        return links;
    }

    /// <summary>
    /// The links <c>/link-check</c> requests, as Mailpit's link check picks them: the HTML's anchors, images and
    /// stylesheets, then the links in the text, each once, first occurrence first, at most <paramref name="max"/>.
    /// </summary>
    /// <param name="text">The text body, or empty.</param>
    /// <param name="html">The HTML body, or empty.</param>
    /// <param name="max">The most links returned.</param>
    /// <returns>The http and https URLs.</returns>
    public static List<string> CheckableLinks(string text, string html, int max)
    {
        var links = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Take(string? url)
        {
            url = url?.Trim();
            if (url is not null && links.Count < max
                && (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
                && seen.Add(url))
            {
                links.Add(url);
            }
        }

        if (html.Length > 0)
        {
            var tokenizer = new HtmlTokenizer(new StringReader(html));
            while (links.Count < max && tokenizer.ReadNextToken(out var token))
            {
                if (token is not HtmlTagToken { IsEndTag: false } tag)
                {
                    continue;
                }

                switch (tag.Id)
                {
                    case HtmlTagId.A:
                        Take(Attribute(tag, HtmlAttributeId.Href));
                        break;
                    case HtmlTagId.Image:
                        Take(Attribute(tag, HtmlAttributeId.Src));
                        break;
                    case HtmlTagId.Link when Attribute(tag, HtmlAttributeId.Rel)?.Contains("stylesheet", StringComparison.OrdinalIgnoreCase) == true:
                        Take(Attribute(tag, HtmlAttributeId.Href));
                        break;
                    default:
                        break;
                }
            }
        }

        foreach (Match match in UrlPattern().Matches(text))
        {
            if (links.Count >= max)
            {
                break;
            }

            Take(match.Value.TrimEnd('.', ',', ';', ':', '!', '?', ')', ']', '}', '\''));
        }

        return links;
    }

    private static string? Attribute(HtmlTagToken tag, HtmlAttributeId id) => tag.Attributes.FirstOrDefault(a => a.Id == id)?.Value;

    /// <summary>
    /// Numeric one-time codes: runs of 4 to 8 digits standing alone (or two groups of 3 or 4 split by a space or a
    /// dash, as codes are often printed), in the subject and the text. Numbers in links are skipped. Codes whose
    /// context has a word such as "code" or "verify" come first; a bare four-digit number that looks like a year
    /// is listed only with such a word.
    /// </summary>
    /// <param name="subject">The subject.</param>
    /// <param name="text">The text body, or the HTML body made text.</param>
    /// <returns>The codes with their context.</returns>
    public static List<ApiCode> Codes(string subject, string text)
    {
        var marked = new List<ApiCode>();
        var plain = new List<ApiCode>();
        foreach (var source in new[] { subject, text })
        {
            var withoutLinks = UrlPattern().Replace(source, static m => new string(' ', m.Length));
            foreach (Match match in CodePattern().Matches(withoutLinks))
            {
                var code = new string(match.Value.Where(char.IsAsciiDigit).ToArray());
                var from = Math.Max(0, match.Index - ContextChars);
                var to = Math.Min(withoutLinks.Length, match.Index + match.Length + ContextChars);
                var context = MessageParts.Collapse(withoutLinks[from..to], (2 * ContextChars) + match.Length);
                var hasWord = CodeWords.Any(w => context.Contains(w, StringComparison.OrdinalIgnoreCase));
                var looksLikeYear = code.Length == 4 && code[0] is '1' or '2' && code[1] is '9' or '0';
                if (!hasWord && looksLikeYear)
                {
                    continue;
                }

                var list = hasWord ? marked : plain;
                if (!marked.Concat(plain).Any(c => c.Code == code) && marked.Count + plain.Count < MaxItems)
                {
                    list.Add(new ApiCode { Code = code, Context = context });
                }
            }
        }

        return [.. marked, .. plain];
    }

    /// <summary>The text a code finder and the plain view read: the text body, or the HTML body made text.</summary>
    /// <param name="mime">The message.</param>
    /// <returns>The text.</returns>
    public static string PlainText(MimeMessage mime)
    {
        if (mime.TextBody is { } text)
        {
            return text;
        }

        return mime.HtmlBody is { } html ? MessageParts.HtmlToText(html) : string.Empty;
    }

    private static void Add(List<ApiLink> links, HashSet<string> seen, string? url, string text, string source)
    {
        if (url is null || links.Count >= MaxItems
            || !(url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            || !seen.Add(url))
        {
            return;
        }

        links.Add(new ApiLink { URL = url, Text = text, Source = source });
    }

    [GeneratedRegex(@"https?://[^\s<>""'`]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex UrlPattern();

    [GeneratedRegex(@"(?<![\w.,/-])(?:\d{3,4}[ -]\d{3,4}|\d{4,8})(?![\w/-]|[.,]\d)", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex CodePattern();
}
