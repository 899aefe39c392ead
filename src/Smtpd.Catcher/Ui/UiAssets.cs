using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace Smtpd.Catcher.Ui;

/// <summary>One file of the browser inbox, held in memory with its content type and entity tag.</summary>
/// <param name="Content">The file's bytes.</param>
/// <param name="ContentType">The <c>Content-Type</c> to serve it with.</param>
/// <param name="ETag">A strong entity tag from the SHA-256 of the content, so a browser revalidates cheaply.</param>
internal sealed record UiAsset(byte[] Content, string ContentType, EntityTagHeaderValue ETag)
{
    /// <summary>Whether the file is an HTML page, which gets the page's security headers.</summary>
    public bool IsPage => ContentType.StartsWith("text/html", StringComparison.Ordinal);
}

/// <summary>
/// The browser inbox's files, read once from the assembly's embedded manifest (<see cref="ManifestEmbeddedFileProvider"/>)
/// into memory: the whole UI is well under 200 KB, and serving bytes from a dictionary needs no file system, no
/// path handling and so no path traversal to guard against.
/// </summary>
internal sealed class UiAssets
{
    /// <summary>The folder of the project that holds the files, as the manifest names it.</summary>
    private const string Root = "Ui/wwwroot";

    // Only these kinds are embedded; anything else in the folder is a build mistake and fails loudly at load.
    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private readonly FrozenDictionary<string, UiAsset> files;

    private UiAssets(FrozenDictionary<string, UiAsset> files) => this.files = files;

    /// <summary>The files embedded in this assembly, loaded on first use.</summary>
    public static UiAssets Embedded => EmbeddedHolder.Instance;

    /// <summary>The number of files.</summary>
    public int Count => files.Count;

    /// <summary>Finds a file by its path below the UI folder, such as <c>app.js</c> or <c>index.html</c>.</summary>
    /// <param name="path">The path, with <c>/</c> separators and no leading slash.</param>
    /// <param name="asset">The file, when found.</param>
    /// <returns>Whether the file exists.</returns>
    public bool TryGet(string path, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out UiAsset? asset) =>
        files.TryGetValue(path, out asset);

    /// <summary>Reads every file below the root of a provider.</summary>
    /// <param name="provider">The provider.</param>
    /// <returns>The files, keyed by their path below the root.</returns>
    internal static UiAssets Load(IFileProvider provider)
    {
        var files = new Dictionary<string, UiAsset>(StringComparer.Ordinal);
        // The manifest provider resolves "/" as its root; an empty path is "not found".
        AddDirectory(provider, "/", files);
        return new UiAssets(files.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static void AddDirectory(IFileProvider provider, string directory, Dictionary<string, UiAsset> files)
    {
        foreach (var entry in provider.GetDirectoryContents(directory))
        {
            var path = directory == "/" ? entry.Name : directory + "/" + entry.Name;
            if (entry.IsDirectory)
            {
                AddDirectory(provider, path, files);
                continue;
            }

            if (!ContentTypes.TryGetValue(Path.GetExtension(entry.Name), out var contentType))
            {
                throw new InvalidOperationException($"The browser inbox embeds {path}, a kind of file it has no content type for.");
            }

            using var stream = entry.CreateReadStream();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var tag = new EntityTagHeaderValue("\"" + Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 12)) + "\"");
            files.Add(path, new UiAsset(content, contentType, tag));
        }
    }

    // A nested holder keeps the manifest unread until the UI is first served: a host without the UI pays nothing.
    private static class EmbeddedHolder
    {
        public static readonly UiAssets Instance = Load(new ManifestEmbeddedFileProvider(typeof(UiAssets).Assembly, Root));
    }
}
