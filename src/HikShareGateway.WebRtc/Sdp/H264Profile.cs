using System.Globalization;

namespace HikShareGateway.WebRtc.Sdp;

/// <summary>H.264 profile classes as SDP negotiation distinguishes them (RFC 6184 §8.1, profile-level-id).</summary>
public enum H264ProfileClass { ConstrainedBaseline, Baseline, Main, ConstrainedHigh, High, Other }

/// <summary>The three bytes of profile-level-id: profile_idc, constraint flags (profile-iop), level_idc.</summary>
public readonly record struct H264Profile(byte ProfileIdc, byte ProfileIop, byte LevelIdc)
{
    /// <summary>RFC 6184 §8.1: without profile-level-id the default is 420010 (Baseline, level 1.0).</summary>
    public static H264Profile Default => new(0x42, 0x00, 0x10);

    public static bool TryParse(string? text, out H264Profile profile)
    {
        profile = Default;
        if (text is null) return true;
        if (text.Length != 6 || !uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)) return false;
        profile = new H264Profile((byte)(v >> 16), (byte)(v >> 8), (byte)v);
        return true;
    }

    /// <summary>From an SPS NAL unit (header byte first): bytes 1..3 are profile_idc, the constraint flags, level_idc.</summary>
    public static bool TryFromSps(ReadOnlySpan<byte> sps, out H264Profile profile)
    {
        profile = default;
        if (sps.Length < 4 || (sps[0] & 0x1F) != 7) return false;
        profile = new H264Profile(sps[1], sps[2], sps[3]);
        return true;
    }

    public string ProfileLevelId => $"{ProfileIdc:x2}{ProfileIop:x2}{LevelIdc:x2}";

    /// <summary>The class, by the rules browsers use (constraint_set1 on Baseline, set0 on Main, set4+5 on High).</summary>
    public H264ProfileClass Class => ProfileIdc switch
    {
        0x42 => (ProfileIop & 0x40) != 0 ? H264ProfileClass.ConstrainedBaseline : H264ProfileClass.Baseline,
        0x4D => (ProfileIop & 0x80) != 0 ? H264ProfileClass.ConstrainedBaseline : H264ProfileClass.Main,
        0x58 => (ProfileIop & 0xC0) == 0xC0 ? H264ProfileClass.ConstrainedBaseline : H264ProfileClass.Other,
        0x64 => (ProfileIop & 0x0C) == 0x0C ? H264ProfileClass.ConstrainedHigh : H264ProfileClass.High,
        _ => H264ProfileClass.Other,
    };

    /// <summary>
    /// How well a decoder of <paramref name="decoder"/>'s profile fits a stream of this profile: 0 exact, higher
    /// is a superset decoder (a High decoder plays Main and Constrained Baseline), -1 cannot play it.
    /// </summary>
    public int FitFor(H264Profile decoder)
    {
        var s = Class;
        var d = decoder.Class;
        if (s == d) return s == H264ProfileClass.Other && ProfileIdc != decoder.ProfileIdc ? -1 : 0;
        return (s, d) switch
        {
            (H264ProfileClass.ConstrainedBaseline, H264ProfileClass.Baseline) => 1,
            (H264ProfileClass.ConstrainedBaseline, H264ProfileClass.Main) => 2,
            (H264ProfileClass.ConstrainedBaseline, H264ProfileClass.ConstrainedHigh) => 3,
            (H264ProfileClass.ConstrainedBaseline, H264ProfileClass.High) => 4,
            (H264ProfileClass.Main, H264ProfileClass.High) => 1,
            (H264ProfileClass.ConstrainedHigh, H264ProfileClass.High) => 1,
            _ => -1,
        };
    }
}
