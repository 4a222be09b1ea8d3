using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkkaTcpTransfer.Fuzzing;

/// <summary>The TLS side of a client written from docs/PROTOCOL.md (as the hostile and crowd clients of the tests and
/// benchmarks are): TLS 1.3 with ALPN akt/1, the server's key pinned by its fingerprint, and a server's refusal sent in
/// the clear before TLS told apart from a TLS answer by its first byte.</summary>
public static class StrangerTls
{
    /// <summary>Completes the TLS handshake over <paramref name="network"/>, accepting only a server key whose SHA-256
    /// (of the SubjectPublicKeyInfo, lowercase hex) is <paramref name="fingerprint"/>. If the server answered in the
    /// clear instead (first byte not 0x16), returns the network stream and the bytes it sent: a Refused frame.</summary>
    /// <exception cref="AuthenticationException">The handshake failed otherwise (a wrong key, say).</exception>
    public static async Task<(Stream Stream, byte[] ClearAnswer)> ConnectAsync(Stream network, string fingerprint, CancellationToken ct)
    {
        var first = new FirstBytes(network);
        var ssl = new SslStream(first, leaveInnerStreamOpen: true);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                EnabledSslProtocols = SslProtocols.Tls13,
                ApplicationProtocols = [new SslApplicationProtocol("akt/1")],
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && FingerprintOf(certificate) == fingerprint,
            }, ct);
            return (ssl, []);
        }
        catch (AuthenticationException) when (first.Recorded is [not 0x16, ..])
        {
            await ssl.DisposeAsync();
            return (network, first.Recorded.ToArray());
        }
    }

    /// <summary>SHA-256 of the certificate's SubjectPublicKeyInfo, lowercase hex (PROTOCOL.md "Fingerprints").</summary>
    public static string FingerprintOf(X509Certificate certificate)
    {
        using var full = new X509Certificate2(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(full.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>Passes reads through, keeping the first bytes read.</summary>
    private sealed class FirstBytes(Stream inner) : Stream
    {
        public List<byte> Recorded { get; } = [];

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            if (Recorded.Count < 4096) Recorded.AddRange(buffer.Span[..n].ToArray());
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override void Flush() => inner.Flush();

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
