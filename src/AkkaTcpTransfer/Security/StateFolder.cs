using System.Security.Cryptography;

namespace AkkaTcpTransfer.Security;

/// <summary>The folder where a node keeps what must outlive it (settings: state-dir): secrets such as a client's resume
/// keys and the server's identity. The folder and every file in it are readable by their owner only (0700/0600 on Unix).</summary>
internal sealed class StateFolder(string path)
{
    public string Path { get; } = path;

    /// <summary>Where a client keeps its resume key for the server at <paramref name="host"/>:<paramref name="port"/>
    /// under <paramref name="name"/>: one identity per server and name, so no server learns a key another one knows.</summary>
    public static string ResumeKeyFile(string host, int port, string name) =>
        "resume-key-" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{host}:{port}\n{name}")))[..16];

    /// <summary>The secret stored in <paramref name="fileName"/>, or null if there is none (or it cannot be read).</summary>
    public byte[]? ReadSecret(string fileName)
    {
        try
        {
            var file = System.IO.Path.Combine(Path, fileName);
            return File.Exists(file) ? Convert.FromHexString(File.ReadAllText(file).Trim()) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Stores <paramref name="secret"/> in <paramref name="fileName"/>, replacing it whole (written beside it,
    /// then renamed), readable by the owner only. False if the folder cannot be written.</summary>
    public bool WriteSecret(string fileName, ReadOnlySpan<byte> secret)
    {
        try
        {
            EnsureFolder();
            var file = System.IO.Path.Combine(Path, fileName);
            var temp = $"{file}.{Environment.ProcessId}.tmp";
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var stream = new FileStream(temp, options))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(Convert.ToHexStringLower(secret));
            }
            File.Move(temp, file, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Holds <paramref name="fileName"/>.lock exclusively (an flock on Unix) until disposed, so that two programs
    /// using this folder never use the same secret at once; null if another holds it (or the folder cannot be written).</summary>
    public IDisposable? TryLock(string fileName)
    {
        try
        {
            EnsureFolder();
            return new FileStream(System.IO.Path.Combine(Path, fileName + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The secret in <paramref name="fileName"/>, made (random, <paramref name="length"/> bytes) and stored the
    /// first time. If the folder cannot be written, the new secret lives as long as the process.</summary>
    public byte[] ReadOrCreateSecret(string fileName, int length)
    {
        if (ReadSecret(fileName) is { Length: > 0 } existing) return existing;
        var secret = RandomNumberGenerator.GetBytes(length);
        WriteSecret(fileName, secret);
        return secret;
    }

    private void EnsureFolder()
    {
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(Path);
        else Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
