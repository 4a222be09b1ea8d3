namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>A transfer cannot go on; <see cref="Exception.Message"/> says why, fit to show a user and to send to the
/// peer. <see cref="DiskFull"/> marks the one failure that frees space by removing the partial file.</summary>
internal sealed class TransferException : Exception
{
    public TransferException(string message, Exception? inner = null, bool diskFull = false) : base(message, inner) => DiskFull = diskFull;

    public bool DiskFull { get; }

    /// <summary>The partial file is locked by another process that shares the downloads folder.</summary>
    public bool InUseElsewhere { get; init; }
}
