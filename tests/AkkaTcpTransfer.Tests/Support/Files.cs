using System.Security.Cryptography;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Real files on disk for transfer tests: random content, SHA-256, a temporary folder per test.</summary>
public sealed class Files : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("att-").FullName;

    public string Dir(string name)
    {
        var path = Path.Combine(Root, name);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A file of <paramref name="size"/> random bytes (deterministic per seed).</summary>
    public string Create(string relative, long size, int seed = 1)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var random = new Random(seed);
        var buffer = new byte[1 << 20];
        for (long left = size; left > 0;)
        {
            var n = (int)Math.Min(buffer.Length, left);
            random.NextBytes(buffer.AsSpan(0, n));
            stream.Write(buffer, 0, n);
            left -= n;
        }
        return path;
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Every file under <paramref name="dir"/>, relative, '/'-separated, sorted; the partials folder excluded.</summary>
    public static List<string> List(string dir) =>
        !Directory.Exists(dir)
            ? []
            : [.. Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
                .Where(f => !f.StartsWith(".akka-tcp-transfer/", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)];

    /// <summary>Files in the downloads folder's partials folder.</summary>
    public static List<string> Partials(string downloads)
    {
        var dir = Path.Combine(downloads, ".akka-tcp-transfer");
        // Partial files (.part, resumable; .tmp, private); not their descriptions (.meta).
        return Directory.Exists(dir)
            ? [.. Directory.EnumerateFiles(dir).Where(f => !f.EndsWith(".meta", StringComparison.Ordinal)).Select(f => Path.GetFileName(f))]
            : [];
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a mount point (tmpfs test) may still be busy; the OS temp cleaner will have it
        }
    }
}
