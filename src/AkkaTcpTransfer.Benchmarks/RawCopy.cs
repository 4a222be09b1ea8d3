using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>The plain .NET baseline: one socket, one file, 256 KiB buffers, no framing, no hashing, no fsync. Run as
/// two processes of this program (roles raw-receive and raw-send), like the real transfer.</summary>
public static class RawCopy
{
    /// <summary>Listens on 127.0.0.1:0, prints {"event":"listening","port":N}, copies one connection to
    /// <paramref name="output"/>, prints {"event":"received","bytes":N,"seconds":S} (accept to file closed).</summary>
    public static int Receive(string output)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Console.WriteLine($"{{\"event\":\"listening\",\"host\":\"127.0.0.1\",\"port\":{((IPEndPoint)listener.LocalEndpoint).Port}}}");
        Console.Out.Flush();
        using var socket = listener.AcceptSocket();
        var clock = Stopwatch.StartNew();
        long total = 0;
        using (var file = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            var buffer = new byte[256 * 1024];
            int n;
            while ((n = socket.Receive(buffer)) > 0)
            {
                file.Write(buffer, 0, n);
                total += n;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"event\":\"received\",\"bytes\":{total},\"seconds\":{clock.Elapsed.TotalSeconds}}}"));
        return 0;
    }

    public static int Send(int port, string input)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(IPAddress.Loopback, port);
        using var file = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        var buffer = new byte[256 * 1024];
        int n;
        while ((n = file.Read(buffer, 0, buffer.Length)) > 0) socket.Send(buffer, 0, n, SocketFlags.None);
        socket.Shutdown(SocketShutdown.Send);
        return 0;
    }
}
