using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Configuration;
using Akka.IO;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Tcp;
using AkkaTcp = Akka.IO.Tcp;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>The bound of this design with TLS, measured in the same run as the product: a file read, hashed (SHA-256),
/// encrypted by SslStream (TLS 1.3, the server's kind of key) over Akka.IO through the product's own
/// <see cref="TlsBridgeStream"/>, then decrypted, hashed and written to a file at the other end. No protocol, no
/// framing, no actors beyond the one that owns each Akka.IO connection (as the connection actor does): the file work
/// runs on the thread that encrypts or decrypts. Roles tls-receive / tls-send of this program; each reports the CPU
/// and context switches its process spent between the end of the handshake and the last byte.</summary>
public static class TlsBound
{
    private const int Window = 256 * 1024;
    private const int Piece = 64 * 1024;

    /// <summary>As <see cref="AkkaIoBound"/>'s, with room for a gathered write (128 KiB).</summary>
    private static Config AkkaConfig => AkkaIoBound.Config(maximumFrameSize: "128k");

    private sealed class WantInput
    {
        public static readonly WantInput Instance = new();
    }

    /// <summary>CPU seconds and context switches of this process so far.</summary>
    private static (double Cpu, long Switches) Self()
    {
        long switches = 0;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        switches += long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }
        return (Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, switches);
    }

    /// <summary>Prints {"event":"listening","port":N}, then {"event":"received","bytes":N,"seconds":S,"cpu":C,"switches":W,"sha256":H}.</summary>
    public static async Task<int> Receive(string output, long total)
    {
        var state = Directory.CreateTempSubdirectory("tls-bound-");
        try
        {
            using var identity = ServerIdentity.LoadOrCreate(state.FullName, ["localhost"]);
            using var system = ActorSystem.Create("tls-receive", AkkaConfig);
            var done = new TaskCompletionSource<string>();
            system.ActorOf(Props.Create(() => new Receiver(output, total, identity, done)));
            Console.WriteLine(await done.Task);
            await system.Terminate();
            return 0;
        }
        finally
        {
            state.Delete(recursive: true);
        }
    }

    /// <summary>Prints {"event":"sent","bytes":N,"cpu":C,"switches":W,"sha256":H} once all is written, then stays until
    /// the receiver closes the connection.</summary>
    public static async Task<int> Send(int port, string file, string fingerprint)
    {
        using var system = ActorSystem.Create("tls-send", AkkaConfig);
        var done = new TaskCompletionSource<string>();
        system.ActorOf(Props.Create(() => new Sender(new IPEndPoint(IPAddress.Loopback, port), file, fingerprint, done)));
        Console.WriteLine(await done.Task);
        await system.Terminate();
        return 0;
    }

    /// <summary>Owns one Akka.IO connection in pull mode, as the connection actor does: feeds the bridge what was read,
    /// reads more only while little waits to be decrypted, and hands the bridge Akka.IO's acknowledgements.</summary>
    private abstract class Owner : ReceiveActor
    {
        private IActorRef? _connection;
        private bool _reading;

        protected TlsBridgeStream? Bridge { get; private set; }

        /// <summary>Takes the connection and runs <paramref name="work"/> over SslStream on the thread pool: the
        /// handshake and the file, each end its own; a failure fails <paramref name="done"/>.</summary>
        protected void Attach(IActorRef connection, Func<SslStream, TlsBridgeStream, Task> work, TaskCompletionSource<string> done)
        {
            _connection = connection;
            connection.Tell(new AkkaTcp.Register(Self));
            var self = Self;
            var bridge = Bridge = new TlsBridgeStream(connection, self, Window, () => self.Tell(WantInput.Instance));
            ReadMore();
            _ = Task.Run(async () =>
            {
                try
                {
                    await using var ssl = new SslStream(bridge);
                    await work(ssl, bridge);
                }
                catch (Exception e)
                {
                    done.TrySetException(e);
                }
            });
        }

        protected Owner()
        {
            Receive<AkkaTcp.Received>(r =>
            {
                _reading = false;
                Bridge!.Feed(r.Data);
                ReadMore();
            });
            Receive<WantInput>(_ => ReadMore());
            Receive<TlsBridgeStream.CipherAck>(_ => Bridge!.Acked());
            Receive<AkkaTcp.ConnectionClosed>(_ => Closed());
        }

        protected virtual void Closed() => Bridge?.EndInput();

        private void ReadMore()
        {
            if (_reading || _connection is null || Bridge!.Queued >= Window) return;
            _reading = true;
            _connection.Tell(AkkaTcp.ResumeReading.Instance);
        }
    }

    private sealed class Receiver : Owner
    {
        public Receiver(string output, long total, ServerIdentity identity, TaskCompletionSource<string> done)
        {
            Context.System.Tcp().Tell(new AkkaTcp.Bind(Self, new IPEndPoint(IPAddress.Loopback, 0), pullMode: true));
            Receive<AkkaTcp.Bound>(b => Console.WriteLine(
                $"{{\"event\":\"listening\",\"host\":\"127.0.0.1\",\"port\":{((IPEndPoint)b.LocalAddress).Port},\"fingerprint\":\"{identity.Fingerprint}\"}}"));
            Receive<AkkaTcp.Connected>(_ => Attach(Sender, async (ssl, _) =>
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = identity.Context,
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [ConnectionSecurity.Alpn],
                });
                var clock = Stopwatch.StartNew();
                var (cpu0, switches0) = TlsBound.Self();
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[Piece];
                long received = 0;
                await using (var file = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
                {
                    while (received < total)
                    {
                        var n = await ssl.ReadAsync(buffer);
                        if (n == 0) throw new IOException($"the sender stopped after {received} of {total} bytes");
                        hash.AppendData(buffer, 0, n);
                        await file.WriteAsync(buffer.AsMemory(0, n));
                        received += n;
                    }
                }
                var seconds = clock.Elapsed.TotalSeconds;
                var (cpu1, switches1) = TlsBound.Self();
                done.TrySetResult(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"event\":\"received\",\"bytes\":{received},\"seconds\":{seconds},\"cpu\":{cpu1 - cpu0},\"switches\":{switches1 - switches0},\"sha256\":\"{Convert.ToHexStringLower(hash.GetHashAndReset())}\"}}"));
            }, done));
        }
    }

    private sealed class Sender : Owner
    {
        public Sender(EndPoint server, string path, string fingerprint, TaskCompletionSource<string> done)
        {
            Context.System.Tcp().Tell(new AkkaTcp.Connect(server, pullMode: true));
            Receive<AkkaTcp.Connected>(_ => Attach(Sender, async (ssl, bridge) =>
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [ConnectionSecurity.Alpn],
                    // The benchmark's own receiver, pinned by the fingerprint it printed (as the product's clients do).
                    RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                        certificate is not null && Fingerprint.Of(new System.Security.Cryptography.X509Certificates.X509Certificate2(certificate)) == fingerprint,
                });
                var (cpu0, switches0) = TlsBound.Self();
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[Piece];
                long sent = 0;
                await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan))
                {
                    int n;
                    while ((n = await file.ReadAsync(buffer)) > 0)
                    {
                        hash.AppendData(buffer, 0, n);
                        // As the product's write loop: SslStream's records for one write go out as one.
                        bridge.Gather();
                        await ssl.WriteAsync(buffer.AsMemory(0, n));
                        await bridge.FlushGatheredAsync(CancellationToken.None);
                        sent += n;
                    }
                }
                var (cpu1, switches1) = TlsBound.Self();
                // Said now; the process stays until the receiver, having read it all, closes the connection.
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"event\":\"sent\",\"bytes\":{sent},\"cpu\":{cpu1 - cpu0},\"switches\":{switches1 - switches0},\"sha256\":\"{Convert.ToHexStringLower(hash.GetHashAndReset())}\"}}"));
            }, done));
            Receive<AkkaTcp.CommandFailed>(f => done.TrySetException(new IOException($"cannot connect: {f.CauseString}")));
            _closed = () => done.TrySetResult("{\"event\":\"closed\"}");
        }

        private readonly Action _closed;

        protected override void Closed()
        {
            base.Closed();
            _closed();
        }
    }
}
