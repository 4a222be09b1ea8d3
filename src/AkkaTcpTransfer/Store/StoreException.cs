namespace AkkaTcpTransfer.Store;

/// <summary>The database cannot be used: its message names the database and says why, in one line fit for a user
/// (a corrupt or foreign file, one written by a newer version, one another server holds, a server that cannot be
/// reached).</summary>
internal sealed class StoreException : Exception
{
    public StoreException(string message) : base(message) { }

    public StoreException(string message, Exception inner) : base(message, inner) { }

    public StoreException() { }
}
