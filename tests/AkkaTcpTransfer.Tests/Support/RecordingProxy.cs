using System.Net;
using System.Net.Sockets;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>A wiretap: a TCP proxy listening at <c>listen</c> that passes every connection on to <c>target</c> unchanged,
/// and keeps a copy of every byte that crossed it, both ways, for a test to search.</summary>
public sealed class RecordingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly List<Socket> _sockets = [];
    private readonly MemoryStream _recorded = new();
    private readonly Task _accepting;
    private int _connections;

    public RecordingProxy(IPEndPoint listen, IPEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(listen);
        _listener.Start();
        _accepting = Task.Run(AcceptLoop);
    }

    /// <summary>Connections that came through.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Everything that crossed so far, both ways (interleaved by arrival).</summary>
    public byte[] Recorded()
    {
        lock (_recorded) return _recorded.ToArray();
    }

    /// <summary>Whether <paramref name="needle"/> crossed in one piece.</summary>
    public bool Saw(ReadOnlySpan<byte> needle) => Recorded().AsSpan().IndexOf(needle) >= 0;

    private async Task AcceptLoop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var inbound = await _listener.AcceptSocketAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                inbound.NoDelay = true;
                try
                {
                    await outbound.ConnectAsync(_target, _stop.Token);
                }
                catch (SocketException)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    continue;
                }
                lock (_sockets)
                {
                    _sockets.Add(inbound);
                    _sockets.Add(outbound);
                    _pumps.Add(Pump(inbound, outbound));
                    _pumps.Add(Pump(outbound, inbound));
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // stopped
        }
    }

    private async Task Pump(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                lock (_recorded) _recorded.Write(buffer, 0, n);
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // one end went; the other pump ends with it
            try
            {
                to.Shutdown(SocketShutdown.Both);
            }
            catch (Exception again) when (again is ObjectDisposedException or SocketException)
            {
                // already gone
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets) socket.Dispose();
        }
        Task[] pumps;
        lock (_sockets) pumps = [.. _pumps];
        await Task.WhenAll([_accepting, .. pumps]).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
