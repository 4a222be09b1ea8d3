using System.Runtime.InteropServices;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>Moves a file to a name only if that name is free, atomically: two programs (or two transfers) landing a
/// file under the same name at the same moment cannot both succeed and overwrite one another. .NET's
/// <c>File.Move(overwrite: false)</c> checks, then renames, on Unix: a race (seen: two receivers of one file in a
/// shared folder both "landed" it under one name). Unix: <c>link</c> (fails with EEXIST if the name is taken), then
/// <c>unlink</c> of the old name; on Linux first <c>renameat2(RENAME_NOREPLACE)</c>, one call, where the file system has it.
/// Windows' move without replacing is atomic already.</summary>
internal static class NoReplaceMove
{
    private const int EEXIST = 17;
    private const int AT_FDCWD = -100;
    private const uint RENAME_NOREPLACE = 1;

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string created);

    [DllImport("libc", EntryPoint = "unlink", SetLastError = true)]
    private static extern int Unlink([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDir, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, int newDir,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    /// <summary>True if moved; false if <paramref name="destination"/> exists (nothing changed).</summary>
    /// <exception cref="IOException">Any other failure.</exception>
    public static bool TryMove(string source, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            try
            {
                File.Move(source, destination, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(destination) || Directory.Exists(destination))
            {
                return false;
            }
        }
        if (OperatingSystem.IsLinux())
        {
            // One system call where the file system supports it (ext4, xfs, btrfs, tmpfs); else link and unlink below.
            try
            {
                if (RenameAt2(AT_FDCWD, source, AT_FDCWD, destination, RENAME_NOREPLACE) == 0) return true;
                if (Marshal.GetLastPInvokeError() == EEXIST) return false;
            }
            catch (EntryPointNotFoundException)
            {
                // a C library without renameat2 (before glibc 2.28): link and unlink below
            }
        }
        if (Link(source, destination) == 0)
        {
            // The file is in place under its new name; the old name goes (a leftover one is a partial the sweep removes).
            if (Unlink(source) != 0) File.Delete(source);
            return true;
        }
        var error = Marshal.GetLastPInvokeError();
        if (error == EEXIST) return false;
        throw new IOException($"cannot move '{source}' to '{destination}' (error {error})");
    }
}
