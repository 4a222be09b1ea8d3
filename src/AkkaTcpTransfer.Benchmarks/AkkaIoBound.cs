using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using Akka.IO;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>What bounds us, measured in the same run: bare Akka.IO between two processes, moving 64 KiB writes with
/// an ack window of 4 (64k frames, the setup of our first Akka.IO measurements), optionally with SHA-256 on both ends,
/// and nothing else: no files, no framing, no protocol. Roles akka-receive / akka-send of this program.</summary>
public static class AkkaIoBound
{
    private static Config AkkaConfig => Config(maximumFrameSize: "64k");

    /// <summary>The Akka settings of a bound's processes: Akka.IO's buffers as in our first measurements, quiet logs.</summary>
    internal static Config Config(string maximumFrameSize) => ConfigurationFactory.ParseString($"""
        akka.io.tcp.maximum-frame-size = {maximumFrameSize}
        akka.io.tcp.send-buffer-size = 128k
        akka.io.tcp.receive-buffer-size = 128k
        akka.loglevel = ERROR
        akka.stdout-loglevel = ERROR
        """);

    private sealed class WriteAck : Akka.IO.Tcp.Event
    {
        public static readonly WriteAck Instance = new();
    }

    /// <summary>Prints {"event":"listening","port":N}, then {"event":"received","bytes":N,"seconds":S} after
    /// <paramref name="total"/> bytes.</summary>
    public static async Task<int> Receive(long total, bool sha)
    {
        using var system = ActorSystem.Create("bound-receive", AkkaConfig);
        var done = new TaskCompletionSource<double>();
        system.ActorOf(Props.Create(() => new Receiver(total, sha, done)));
        var seconds = await done.Task;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"event\":\"received\",\"bytes\":{total},\"seconds\":{seconds}}}"));
        await system.Terminate();
        return 0;
    }

    public static async Task<int> Send(int port, long total, bool sha)
    {
        using var system = ActorSystem.Create("bound-send", AkkaConfig);
        var done = new TaskCompletionSource();
        system.ActorOf(Props.Create(() => new Sender(new IPEndPoint(IPAddress.Loopback, port), total, sha, done)));
        await done.Task;
        await system.Terminate();
        return 0;
    }

    private sealed class Receiver : ReceiveActor
    {
        public Receiver(long total, bool sha, TaskCompletionSource<double> done)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long received = 0;
            Stopwatch? clock = null;
            Context.System.Tcp().Tell(new Akka.IO.Tcp.Bind(Self, new IPEndPoint(IPAddress.Loopback, 0)));
            Receive<Akka.IO.Tcp.Bound>(b => Console.WriteLine($"{{\"event\":\"listening\",\"host\":\"127.0.0.1\",\"port\":{((IPEndPoint)b.LocalAddress).Port}}}"));
            Receive<Akka.IO.Tcp.Connected>(_ =>
            {
                clock = Stopwatch.StartNew();
                Sender.Tell(new Akka.IO.Tcp.Register(Self));
            });
            var state = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Receive<Akka.IO.Tcp.Received>(r =>
            {
                if (sha) state.AppendData(r.Data.ToReadOnlySpan());
                received += r.Data.Count;
                if (received >= total) done.TrySetResult(clock!.Elapsed.TotalSeconds);
            });
            Receive<Akka.IO.Tcp.ConnectionClosed>(_ => { });
        }
    }

    private sealed class Sender : ReceiveActor
    {
        public Sender(EndPoint server, long total, bool sha, TaskCompletionSource done)
        {
            const int window = 4;
            var buffers = Enumerable.Range(0, window + 1).Select(i =>
            {
                var b = new byte[64 * 1024];
                new Random(i).NextBytes(b);
                return b;
            }).ToArray();
            var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            IActorRef? connection = null;
            long sent = 0, acked = 0;
            var next = 0;
            void Pump()
            {
                while (sent - acked < window * 65536L && sent < total)
                {
                    var b = buffers[next++ % buffers.Length];
                    if (sha) hash.AppendData(b);
                    connection!.Tell(Akka.IO.Tcp.Write.Create(ByteString.FromBytes(b), WriteAck.Instance));
                    sent += b.Length;
                }
            }
            Context.System.Tcp().Tell(new Akka.IO.Tcp.Connect(server));
            Receive<Akka.IO.Tcp.Connected>(_ =>
            {
                connection = Sender;
                connection.Tell(new Akka.IO.Tcp.Register(Self));
                Pump();
            });
            Receive<WriteAck>(_ =>
            {
                acked += 65536;
                if (acked >= total) done.TrySetResult();
                Pump();
            });
            Receive<Akka.IO.Tcp.ConnectionClosed>(_ => done.TrySetResult());
        }
    }
}
