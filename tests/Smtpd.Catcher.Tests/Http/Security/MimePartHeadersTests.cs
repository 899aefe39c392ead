using Microsoft.Net.Http.Headers;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class MimePartHeadersTests
{
    [Theory]
    [InlineData("text/html")]
    [InlineData("TEXT/HTML; charset=utf-8")]
    [InlineData("image/svg+xml")]
    [InlineData("application/xhtml+xml")]
    [InlineData("text/xml")]
    [InlineData("application/xml")]
    [InlineData("application/rss+xml")]
    [InlineData("application/javascript")]
    [InlineData("text/javascript")]
    [InlineData("application/x-ecmascript-module")]
    [InlineData("application/vnd.ms-htmlhelp")]
    [InlineData("application/pdf")]
    [InlineData("text/xsl")]
    public void AScriptCapablePartIsNeverInlineAndNeverItsOwnType(string contentType)
    {
        var headers = MimePartHeaders.For(contentType, "page.html");
        Assert.Equal("application/octet-stream", headers.ContentType);
        Assert.False(headers.IsInline);
        Assert.Equal("attachment", headers.ContentDisposition.DispositionType.Value);
    }

    [Theory]
    [InlineData("image/png")]
    [InlineData("image/jpeg")]
    [InlineData("image/gif")]
    [InlineData("image/webp")]
    [InlineData("audio/mpeg")]
    [InlineData("video/mp4")]
    public void ARasterImageOrMediaIsInlineWithItsType(string contentType)
    {
        var headers = MimePartHeaders.For(contentType, "logo.png");
        Assert.Equal(contentType, headers.ContentType);
        Assert.True(headers.IsInline);
    }

    [Fact]
    public void ADownloadRequestMakesEvenAnImageAnAttachment()
    {
        var headers = MimePartHeaders.For("image/png", "logo.png", download: true);
        Assert.Equal("image/png", headers.ContentType);
        Assert.Equal("attachment", headers.ContentDisposition.DispositionType.Value);
    }

    [Theory]
    [InlineData("text/plain; charset=iso-8859-1", "text/plain; charset=iso-8859-1")]
    [InlineData("text/plain", "text/plain")]
    [InlineData("text/plain; charset=\"utf-8; x=<b>\"", "text/plain")]
    public void PlainTextIsInlineWithAClearCharsetOnly(string contentType, string served)
    {
        var headers = MimePartHeaders.For(contentType, null);
        Assert.Equal(served, headers.ContentType);
        Assert.True(headers.IsInline);
    }

    [Theory]
    [InlineData("application/zip")]
    [InlineData("text/calendar")]
    [InlineData("application/vnd.openxmlformats-officedocument.wordprocessingml.document")]
    public void AnyOtherTypeKeepsItsTypeButIsAnAttachment(string contentType)
    {
        var headers = MimePartHeaders.For(contentType, "file");
        Assert.Equal(contentType, headers.ContentType);
        Assert.False(headers.IsInline);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not a type")]
    [InlineData("text/")]
    [InlineData("image/png\r\nX-Injected: 1")]
    public void AMissingOrMalformedTypeIsServedAsOctetStreamAttachment(string? contentType)
    {
        var headers = MimePartHeaders.For(contentType, null);
        Assert.Equal("application/octet-stream", headers.ContentType);
        Assert.False(headers.IsInline);
        Assert.Equal("attachment", headers.ContentDisposition.ToString());
    }

    [Theory]
    [InlineData("\"><script>alert(1)</script>.html")]
    [InlineData("a\"; filename=evil.html")]
    [InlineData("résumé \"final\".pdf")]
    public void AHostileFileNameStaysInsideItsQuotes(string fileName)
    {
        var header = MimePartHeaders.For("text/html", fileName).ContentDisposition.ToString();
        var parsed = ContentDispositionHeaderValue.Parse(header);
        Assert.Equal("attachment", parsed.DispositionType.Value);
        Assert.Equal(fileName.Replace('/', '_'), parsed.FileNameStar.Value);
        Assert.Equal(2, parsed.Parameters.Count);
    }

    [Fact]
    public void AScriptTagInAFileNameIsQuotedEscapedAndPercentEncoded()
    {
        var header = MimePartHeaders.For("text/html", "\"><script>.html").ContentDisposition.ToString();
        Assert.Equal("attachment; filename=\"\\\"><script>.html\"; filename*=UTF-8''%22%3E%3Cscript%3E.html", header);
    }

    [Fact]
    public void ControlCharactersAndPathSeparatorsInAFileNameBecomeUnderscores()
    {
        var header = MimePartHeaders.For("application/zip", "../../etc/pass\r\nwd\\x.zip").ContentDisposition;
        Assert.Equal(".._.._etc_pass__wd_x.zip", header.FileNameStar.Value);
        Assert.DoesNotContain('\n', header.ToString());
    }

    [Fact]
    public void ALongFileNameIsCutTo255Characters()
    {
        var header = MimePartHeaders.For("application/zip", new string('a', 1000) + ".zip").ContentDisposition;
        Assert.Equal(MimePartHeaders.MaxFileNameLength, header.FileNameStar.Value!.Length);
    }
}
