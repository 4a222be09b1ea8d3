using System.Globalization;
using System.Security.Cryptography;

namespace AkkaTcpTransfer.Transfer;

/// <summary>A transfer's id: a random non-zero u32 on the wire, 8 lower-case hex digits for people.</summary>
internal static class TransferIds
{
    public static uint New()
    {
        Span<byte> bytes = stackalloc byte[4];
        uint id;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            id = BitConverter.ToUInt32(bytes);
        }
        while (id == 0);
        return id;
    }

    public static string Format(uint id) => id.ToString("x8", CultureInfo.InvariantCulture);

    public static bool TryParse(string text, out uint id) =>
        uint.TryParse(text.Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out id) && id != 0;
}
