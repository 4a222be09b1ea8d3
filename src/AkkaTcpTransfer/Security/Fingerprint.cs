using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkkaTcpTransfer.Security;

/// <summary>A server's identity as users compare and pin it: the SHA-256 of its certificate's SubjectPublicKeyInfo,
/// 64 lowercase hex digits. It names the key, not the certificate, so a certificate renewed with the same key keeps
/// its fingerprint. <c>openssl x509 -in CERT -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256</c>
/// prints the same value.</summary>
internal static class Fingerprint
{
    public const int HexLength = 64;

    /// <summary>The fingerprint of <paramref name="certificate"/>'s public key.</summary>
    public static string Of(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>A fingerprint as a user may write it (upper or lower case, with a <c>sha256:</c> or <c>SHA256:</c>
    /// prefix, with colons or spaces between bytes, as openssl prints it) in the canonical form, or null if it is not
    /// 32 bytes of hex.</summary>
    public static string? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var s = text.Trim();
        foreach (var prefix in (string[])["sha256:", "sha256=", "SHA2-256(stdin)=", "(stdin)="])
        {
            if (s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                s = s[prefix.Length..];
                break;
            }
        }
        var hex = new System.Text.StringBuilder(HexLength);
        foreach (var c in s)
        {
            if (c is ':' or ' ' or '-') continue;
            if (!char.IsAsciiHexDigit(c)) return null;
            hex.Append(char.ToLowerInvariant(c));
        }
        return hex.Length == HexLength ? hex.ToString() : null;
    }

    /// <summary>The shell command that prints the fingerprint of the certificate in <paramref name="certificateFile"/>.</summary>
    public static string OpensslCommand(string certificateFile) =>
        $"openssl x509 -in '{certificateFile}' -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256";
}
