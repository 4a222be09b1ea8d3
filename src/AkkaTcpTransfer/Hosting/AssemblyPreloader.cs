namespace AkkaTcpTransfer.Hosting;

/// <summary>Loads, at start, the assemblies a server first needs when a connection or an offer arrives. .NET loads an
/// assembly the first time code that uses it runs, and loading opens a file: a server out of descriptors (a crowd of
/// silent connections) then fails to load System.Threading.Channels for its first TLS connection, and the failure is
/// remembered, so every later connection fails too (measured: 300 silent connections at a 256-descriptor limit, 2 runs
/// of 8 let no client in afterwards). Only these: each loaded assembly keeps a descriptor open for the process's life
/// (loading every referenced assembly took ~200 of the 256). The list is what a server had loaded after one client
/// chatted and sent a file, less what it had loaded at start (compare /proc/PID/fd).</summary>
internal static class AssemblyPreloader
{
    public static void LoadConnectionPath()
    {
        _ = typeof(System.Threading.Channels.Channel).Assembly; // TlsTransport's write queue
        _ = typeof(DriveInfo).Assembly;                          // free space, checked for every offer
    }
}
