using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>5. Many clients on one server: C lightweight clients (plain sockets speaking the protocol, as
/// docs/PROTOCOL.md describes it) connect and say hello; then one broadcast from the server must reach all of them.
/// Reports the time to connect, the time for the broadcast to reach the last client, and the server's peak memory.</summary>
public static class ConnectionsBenchmark
{
    private const string Section = "5. connections (one server, many clients)";

    public static async Task Run(Bench bench, int count)
    {
        Console.Error.WriteLine($"connections: {count}");
        var (server, port) = await bench.StartServer(bench.Dir("server-downloads"),
            "--set", "connection.idle-timeout=300s", "--set", "server.handshake-timeout=60s");
        await using (server)
        {
            var baseline = server.PeakResidentBytes() ?? 0;
            var clients = new List<Client>(count);
            try
            {
                var connect = Stopwatch.StartNew();
                // At most 256 handshakes in flight, like a crowd arriving rather than a flood.
                using var gate = new SemaphoreSlim(256);
                var joins = Enumerable.Range(0, count).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        var client = await Client.JoinAsync(port, $"u{i}", i);
                        lock (clients) clients.Add(client);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }).ToList();
                await Task.WhenAll(joins);
                var connectSeconds = connect.Elapsed.TotalSeconds;

                var listening = clients.Select(c => c.WaitForChat("hello everyone")).ToList();
                var broadcast = Stopwatch.StartNew();
                await server.SendLine("hello everyone");
                await Task.WhenAll(listening).WaitAsync(TimeSpan.FromMinutes(2));
                var reachAll = broadcast.Elapsed.TotalMilliseconds;
                var peak = server.PeakResidentBytes() ?? 0;

                bench.Report.Add(Section, $"{count} clients: time to connect and handshake", connectSeconds, "s");
                bench.Report.Add(Section, $"{count} clients: one broadcast reaches all", reachAll, "ms", "target <= 1000 ms at 10,000");
                bench.Report.Add(Section, $"{count} clients: server peak memory", peak / 1048576.0, "MiB", "target <= 1024 MiB at 10,000");
                bench.Report.Add(Section, $"{count} clients: server memory per client", (peak - baseline) / (double)count / 1024, "KiB");
            }
            finally
            {
                foreach (var c in clients) c.Dispose();
                await server.SendLine("/quit");
                await server.WaitForExit();
            }
        }
    }

    /// <summary>A minimal protocol client: Hello, Welcome, then read frames until the one it waits for. Clients come
    /// from 250 loopback addresses (127.0.0.1 to 127.0.0.250), as a crowd would come from many hosts: the server
    /// admits at most server.max-connections-per-address from one.</summary>
    private sealed class Client : IDisposable
    {
        private const int MaxFrame = 73728;
        private readonly Socket _socket;
        private readonly FrameDecoder _decoder = new(MaxFrame);
        private readonly List<Frame> _frames = [];
        private readonly byte[] _buffer = new byte[MaxFrame];

        private Client(Socket socket) => _socket = socket;

        public static async Task<Client> JoinAsync(int port, string name, int index)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, (byte)(1 + (index % 250))]), 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            var client = new Client(socket);
            await socket.SendAsync(FrameEncoder.Encode(new Hello(ProtocolLimits.Version, MaxFrame, name, "", [])));
            var first = await client.NextAsync();
            if (first is not Welcome) throw new InvalidOperationException($"{name}: expected Welcome, got {first}");
            return client;
        }

        private async Task<Frame> NextAsync()
        {
            while (_frames.Count == 0)
            {
                var n = await _socket.ReceiveAsync(_buffer);
                if (n == 0) throw new InvalidOperationException("server closed the connection");
                _decoder.Decode(_buffer.AsSpan(0, n), _frames);
            }
            var frame = _frames[0];
            _frames.RemoveAt(0);
            return frame;
        }

        public async Task WaitForChat(string text)
        {
            while (await NextAsync() is not Protocol.Chat c || c.Text != text)
            {
                // pings and presence: keep reading
            }
        }

        public void Dispose() => _socket.Dispose();
    }
}
