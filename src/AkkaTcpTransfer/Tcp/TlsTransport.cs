using System.Buffers;
using System.Net.Security;
using System.Security.Authentication;
using System.Threading.Channels;
using Akka.Actor;
using Akka.IO;
using AkkaTcpTransfer.Security;

namespace AkkaTcpTransfer.Tcp;

/// <summary>Which end of TLS a connection plays, and with what: a server's identity, or a client's trust rule.</summary>
internal abstract record ConnectionSecurity
{
    /// <summary>The protocol name both ends agree on in the handshake (ALPN). A future incompatible wire format gets a new one.</summary>
    public static readonly SslApplicationProtocol Alpn = new("akt/1");

    public sealed record Server(ServerIdentity Identity) : ConnectionSecurity;

    /// <param name="TargetHost">The name the server's certificate must carry when a CA vouches for it (and the SNI sent).</param>
    public sealed record Client(string TargetHost, ServerTrust Trust) : ConnectionSecurity;

    /// <summary>One end of a link between two nodes of a cluster: both present the cluster's key and accept only a peer
    /// that presents the same (<see cref="ClusterIdentity.Check"/>). <paramref name="Accepting"/>: the TLS server.</summary>
    public sealed record Node(ClusterIdentity Identity, bool Accepting) : ConnectionSecurity;
}

/// <summary>TLS 1.3 over Akka.IO: SslStream (the operating system's TLS: OpenSSL on Linux) runs over a
/// <see cref="TlsBridgeStream"/> fed by the connection actor. After the handshake, one read loop decrypts for the
/// connection's whole life (TLS 1.3 sends tickets and key updates at any time) and hands plaintext to the actor in
/// batches; one write loop encrypts the actor's writes in order (SslStream allows one writer) and acknowledges each to
/// the actor once it is on its way to Akka.IO.</summary>
internal sealed class TlsTransport : IByteTransport
{
    private sealed record HandshakeSucceeded(TlsSession Session) : ITransportMessage;

    private sealed record HandshakeFailed(string Reason) : ITransportMessage;

    private sealed record Decrypted(byte[] Buffer, int Count) : ITransportMessage;

    private sealed record ReadEnded(string? Error) : ITransportMessage;

    private sealed class WantInput : ITransportMessage
    {
        public static readonly WantInput Instance = new();
    }

    /// <summary>Ciphertext unacknowledged by Akka.IO before encryption waits (256 KiB and 1 MiB measured alike).</summary>
    private const int CipherWindow = 256 * 1024;

    /// <summary>Ciphertext queued for decryption beyond which the actor stops reading the socket.</summary>
    private const int MaxQueuedInput = 256 * 1024;

    /// <summary>Plaintext gathered into one message to the actor before it goes (what SslStream has ready, up to this;
    /// the last record may take it past, by at most <see cref="RecordBytes"/>: the buffer stays at 64 KiB, below the
    /// large-object heap).</summary>
    private const int BatchBytes = 48 * 1024;

    /// <summary>Ciphertext gathered into one write to Akka.IO at most (more waits for the next).</summary>
    private const int GatherBytes = 128 * 1024;

    /// <summary>One TLS record's plaintext at most.</summary>
    private const int RecordBytes = 16 * 1024;

    private readonly IActorRef _self;
    private readonly IActorRef _tcp;
    private readonly ITransportOwner _owner;
    private readonly ConnectionSecurity _security;
    private readonly TimeSpan _handshakeTimeout;
    private readonly TlsBridgeStream _bridge;
    private readonly SslStream _ssl;
    /// <summary>Writes waiting to be encrypted: the pieces SslStream gets, in order. Small segments (frame heads,
    /// control frames) are joined into one pooled buffer, given back once SslStream has encrypted it; a chunk's data is
    /// encrypted from the buffer it is in, which its owner keeps until this write is acknowledged.</summary>
    private readonly Channel<PendingWrite> _writes =
        Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    /// <param name="Joined">The pooled buffer the small segments were joined into, or null.</param>
    private readonly record struct PendingWrite(ReadOnlyMemory<byte>[] Pieces, byte[]? Joined, Akka.IO.Tcp.Event Ack);

    /// <summary>A segment at least this long is encrypted where it is; shorter ones are joined with their neighbours.</summary>
    internal const int InPlaceBytes = 4 * 1024;
    private readonly CancellationTokenSource _stop = new();
    private ServerTrust.Check? _check;
    /// <summary>Between nodes: why the peer's certificate was refused, when it was.</summary>
    private string? _refusal;
    private bool _established;
    private bool _handshakeOver;
    private bool _shutdownRequested;
    private bool _disposed;

    public TlsTransport(IActorRef self, IActorRef tcp, ITransportOwner owner, ConnectionSecurity security, TimeSpan handshakeTimeout)
    {
        _self = self;
        _tcp = tcp;
        _owner = owner;
        _security = security;
        _handshakeTimeout = handshakeTimeout;
        _bridge = new TlsBridgeStream(tcp, self, CipherWindow, () => self.Tell(WantInput.Instance));
        _ssl = new SslStream(_bridge, leaveInnerStreamOpen: false);
    }

    public bool WantsInput => _bridge.Queued < MaxQueuedInput;

    public void Start()
    {
        Task handshake;
        // Cancelled by the handshake timeout, or by the connection stopping (then _stop says so).
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(_handshakeTimeout);
        var token = deadline.Token;
        switch (_security)
        {
            case ConnectionSecurity.Server server:
                handshake = _ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = server.Identity.Context,
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [ConnectionSecurity.Alpn],
                    ClientCertificateRequired = false,
                    CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                }, token);
                break;
            case ConnectionSecurity.Client client:
                _check = client.Trust.NewCheck();
                var options = new SslClientAuthenticationOptions
                {
                    TargetHost = client.TargetHost,
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [ConnectionSecurity.Alpn],
                    RemoteCertificateValidationCallback = _check.Validate,
                    // Revocation lists would be fetched from the network: a transfer tool must work offline.
                    CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                };
                if (client.Trust.CustomRoots is { } roots)
                {
                    options.CertificateChainPolicy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
                    {
                        TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
                        RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                    };
                    options.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
                }
                handshake = _ssl.AuthenticateAsClientAsync(options, token);
                break;
            case ConnectionSecurity.Node node:
                bool Pinned(object sender, System.Security.Cryptography.X509Certificates.X509Certificate? certificate,
                    System.Security.Cryptography.X509Certificates.X509Chain? chain, SslPolicyErrors errors)
                {
                    _refusal = node.Identity.Check(certificate);
                    return _refusal is null;
                }
                handshake = node.Accepting
                    ? _ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = node.Identity.Context,
                        EnabledSslProtocols = SslProtocols.Tls13,
                        ApplicationProtocols = [ConnectionSecurity.Alpn],
                        ClientCertificateRequired = true,
                        RemoteCertificateValidationCallback = Pinned,
                        CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                    }, token)
                    : _ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = ClusterIdentity.TargetHost,
                        EnabledSslProtocols = SslProtocols.Tls13,
                        ApplicationProtocols = [ConnectionSecurity.Alpn],
                        ClientCertificateContext = node.Identity.Context,
                        RemoteCertificateValidationCallback = Pinned,
                        CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                    }, token);
                break;
            default:
                throw new InvalidOperationException($"unknown security {_security}");
        }
        var self = _self;
        handshake.ContinueWith(t =>
        {
            deadline.Dispose();
            if (t.IsCompletedSuccessfully) self.Tell(new HandshakeSucceeded(Describe()));
            else self.Tell(new HandshakeFailed(Explain(t.IsCanceled ? new OperationCanceledException() : t.Exception?.GetBaseException())));
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private TlsSession Describe()
    {
        var suite = _ssl.NegotiatedCipherSuite.ToString();
        return new TlsSession(
            _ssl.SslProtocol == SslProtocols.Tls13 ? "TLSv1.3" : _ssl.SslProtocol.ToString(),
            suite,
            _ssl.NegotiatedApplicationProtocol.ToString(),
            _check?.PresentedFingerprint,
            _check?.Basis);
    }

    private string Explain(Exception? e)
    {
        if (_check?.Explanation is { } trust) return trust;
        if (_refusal is { } refused) return $"not a node of this cluster: {refused}";
        return e switch
        {
            OperationCanceledException when !_stop.IsCancellationRequested =>
                $"the TLS handshake did not complete within {_handshakeTimeout.TotalSeconds:0.###} s",
            OperationCanceledException => "the connection closed during the TLS handshake",
            AuthenticationException a => $"TLS handshake failed: {Inner(a)}",
            IOException io => $"the connection closed during the TLS handshake ({Inner(io)})",
            null => "TLS handshake failed",
            _ => $"TLS handshake failed: {e.Message}",
        };
    }

    private static string Inner(Exception e)
    {
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (!string.IsNullOrWhiteSpace(inner.Message)) message = inner.Message;
        }
        return message.Trim().TrimEnd('.');
    }

    public void RequestRead() => _tcp.Tell(Akka.IO.Tcp.ResumeReading.Instance, _self);

    public void Received(ByteString data) => _bridge.Feed(data);

    /// <summary>SslStream makes a record per write (at most 16 KiB each), so a 13-byte frame head written alone would
    /// cost a record header and an encryption call of its own. Small segments are therefore joined (one copy, into a
    /// rented buffer held only until SslStream has encrypted it: an idle connection holds none), while a chunk's data,
    /// the bulk of every byte sent, is encrypted from where it already is: no copy. A 64 KiB chunk with its head makes
    /// five records either way; a chunk of another size may make one more.</summary>
    public void Write(OutboundWrite write, Akka.IO.Tcp.Event ack)
    {
        var pieces = Pieces(write.Segments, out var joined);
        if (!_writes.Writer.TryWrite(new PendingWrite(pieces, joined, ack)) && joined is not null) ArrayPool<byte>.Shared.Return(joined);
    }

    /// <summary>What SslStream is given for <paramref name="segments"/>, in their order: each run of segments shorter
    /// than <see cref="InPlaceBytes"/> joined into <paramref name="joined"/> (rented; null when there is none), each
    /// longer one as it is. Empty segments are left out.</summary>
    internal static ReadOnlyMemory<byte>[] Pieces(IReadOnlyList<ArraySegment<byte>> segments, out byte[]? joined)
    {
        var small = 0;
        var count = 0;
        var inRun = false;
        foreach (var segment in segments)
        {
            if (segment.Count >= InPlaceBytes)
            {
                count++;
                inRun = false;
            }
            else if (segment.Count > 0)
            {
                small += segment.Count;
                if (!inRun) count++;
                inRun = true;
            }
        }
        joined = small > 0 ? ArrayPool<byte>.Shared.Rent(small) : null;
        var pieces = new ReadOnlyMemory<byte>[count];
        var at = 0;
        var runStart = -1;
        var piece = 0;
        foreach (var segment in segments)
        {
            if (segment.Count >= InPlaceBytes)
            {
                if (runStart >= 0) pieces[piece++] = joined.AsMemory(runStart, at - runStart);
                runStart = -1;
                pieces[piece++] = segment;
            }
            else if (segment.Count > 0)
            {
                if (runStart < 0) runStart = at;
                segment.AsSpan().CopyTo(joined.AsSpan(at));
                at += segment.Count;
            }
        }
        if (runStart >= 0) pieces[piece] = joined.AsMemory(runStart, at - runStart);
        return pieces;
    }

    public void Abort()
    {
        _tcp.Tell(Akka.IO.Tcp.Abort.Instance, _self);
        Dispose();
    }

    public void HalfClose()
    {
        if (_shutdownRequested) return;
        _shutdownRequested = true;
        if (_established)
        {
            // The write loop sends what is queued, then close_notify, then the FIN.
            _writes.Writer.TryComplete();
            return;
        }
        // No session to close: the handshake is abandoned.
        _stop.Cancel();
        _tcp.Tell(Akka.IO.Tcp.ConfirmedClose.Instance, _self);
    }

    public bool DrainAfterClose()
    {
        _bridge.EndInput();
        // Established: decrypted bytes may still be on their way. Mid-handshake: the handshake's own verdict (an alert
        // the peer sent before closing, say) says more than "the peer closed", and it follows shortly.
        return _established || !_handshakeOver;
    }

    public void Handle(ITransportMessage message)
    {
        if (_disposed) return;
        switch (message)
        {
            case TlsBridgeStream.CipherAck:
                _bridge.Acked();
                break;
            case WantInput:
                _owner.InputWanted();
                break;
            case Decrypted d:
                try
                {
                    _owner.Plaintext(d.Buffer.AsSpan(0, d.Count));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(d.Buffer);
                }
                break;
            case ReadEnded r:
                _owner.InputEnded(r.Error);
                break;
            case HandshakeSucceeded or HandshakeFailed when _shutdownRequested:
                // The connection is already closing: the handshake's outcome changes nothing.
                break;
            case HandshakeSucceeded s:
                _handshakeOver = true;
                if (s.Session.ApplicationProtocol != ConnectionSecurity.Alpn.ToString() && _security is ConnectionSecurity.Client)
                {
                    _owner.TransportFailed($"the server did not agree to speak {ConnectionSecurity.Alpn} (ALPN): it is not an akka-tcp-transfer server of this version", _check);
                    return;
                }
                _established = true;
                _ = Task.Run(ReadLoop);
                _ = Task.Run(WriteLoop);
                _owner.TransportReady(s.Session);
                break;
            case HandshakeFailed f:
                _handshakeOver = true;
                _owner.TransportFailed(f.Reason, _check);
                break;
        }
    }

    /// <summary>Decrypts for the connection's whole life, on the thread pool (never on the actor's thread). Between
    /// batches it waits with a zero-byte read, holding no buffer of ours nor of SslStream's, so an idle connection
    /// costs none. Once data is ready it rents one batch buffer and reads records into it for as long as more is ready
    /// at once (a zero-byte probe that completes synchronously says so), up to <see cref="BatchBytes"/>; the batch
    /// goes to the actor, which returns it to the pool. A real read is never left pending.</summary>
    private async Task ReadLoop()
    {
        var self = _self;
        // A probe that did not complete when the last batch was sent: the next wait.
        ValueTask<int> wait = default;
        var waiting = false;
        try
        {
            while (true)
            {
                if (waiting) await wait.ConfigureAwait(false);
                else await _ssl.ReadAsync(Memory<byte>.Empty, _stop.Token).ConfigureAwait(false);
                waiting = false;
                var batch = ArrayPool<byte>.Shared.Rent(BatchBytes + RecordBytes);
                var count = 0;
                var ended = false;
                try
                {
                    while (true)
                    {
                        var n = await _ssl.ReadAsync(batch.AsMemory(count, RecordBytes), _stop.Token).ConfigureAwait(false);
                        if (n == 0)
                        {
                            ended = true;
                            break;
                        }
                        count += n;
                        if (count >= BatchBytes) break;
                        var probe = _ssl.ReadAsync(Memory<byte>.Empty, _stop.Token);
                        if (!probe.IsCompleted)
                        {
                            wait = probe;
                            waiting = true;
                            break;
                        }
                        probe.GetAwaiter().GetResult();
                    }
                }
                catch
                {
                    // What was decrypted before the failure was valid: it goes first, then the error.
                    if (count > 0) self.Tell(new Decrypted(batch, count));
                    else ArrayPool<byte>.Shared.Return(batch);
                    throw;
                }
                if (count > 0) self.Tell(new Decrypted(batch, count));
                else ArrayPool<byte>.Shared.Return(batch);
                if (ended)
                {
                    self.Tell(new ReadEnded(null));
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or AuthenticationException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            if (!_stop.IsCancellationRequested) self.Tell(new ReadEnded($"TLS error: {Inner(e)}"));
        }
    }

    /// <summary>Encrypts the actor's writes in order, acknowledging each; when the actor shuts down, closes the session
    /// (close_notify) and then the socket's sending side.</summary>
    private async Task WriteLoop()
    {
        var self = _self;
        var reader = _writes.Reader;
        try
        {
            var acks = new List<Akka.IO.Tcp.Event>();
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                // What is queued now is encrypted into one ciphertext write (up to GatherBytes), not one per TLS record.
                _bridge.Gather();
                while (_bridge.Gathered < GatherBytes && reader.TryRead(out var item))
                {
                    try
                    {
                        foreach (var piece in item.Pieces) await _ssl.WriteAsync(piece, _stop.Token).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (item.Joined is { } joined) ArrayPool<byte>.Shared.Return(joined);
                    }
                    acks.Add(item.Ack);
                }
                await _bridge.FlushGatheredAsync(_stop.Token).ConfigureAwait(false);
                foreach (var ack in acks) self.Tell(ack);
                acks.Clear();
            }
            await _ssl.ShutdownAsync().ConfigureAwait(false);
            _tcp.Tell(Akka.IO.Tcp.ConfirmedClose.Instance, self);
        }
        catch (Exception e) when (e is IOException or AuthenticationException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or NotSupportedException)
        {
            // The connection is gone or being torn down: the actor learns that from Akka.IO.
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stop.Cancel();
        _bridge.Break(new IOException("the connection is closed"));
        // Writes the loop never took are left to the collector: the loop may still be reading the channel.
        _writes.Writer.TryComplete();
        try
        {
            _ssl.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // disposing a stream mid-operation: nothing left to save
        }
        _stop.Dispose();
    }
}
