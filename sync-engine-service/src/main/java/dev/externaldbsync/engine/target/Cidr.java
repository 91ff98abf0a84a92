package dev.externaldbsync.engine.target;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/** An address range, IPv4 or IPv6 ({@code 10.0.0.0/8}, {@code fe80::/10}). Immutable. */
record Cidr(byte[] network, int prefix, String text) {

    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    /** Parses a literal range; never does a DNS lookup. */
    static Cidr parse(String text) {
        String trimmed = text.strip();
        int slash = trimmed.indexOf('/');
        String address = slash < 0 ? trimmed : trimmed.substring(0, slash);
        if (!isAddressLiteral(address)) {
            throw new IllegalArgumentException("not an address range: " + text);
        }
        byte[] bytes;
        try {
            bytes = InetAddress.getByName(address).getAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an address range: " + text, e);
        }
        int bits = bytes.length * 8;
        int prefix;
        try {
            prefix = slash < 0 ? bits : Integer.parseInt(trimmed.substring(slash + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an address range: " + text, e);
        }
        if (prefix < 0 || prefix > bits) {
            throw new IllegalArgumentException("prefix length out of range: " + text);
        }
        return new Cidr(bytes, prefix, trimmed);
    }

    /** Whether {@code text} is an IP address literal (so resolving it needs no DNS). */
    static boolean isAddressLiteral(String text) {
        String bare = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
        return IPV4.matcher(bare).matches() || (bare.contains(":") && bare.matches("[0-9A-Fa-f:.%a-zA-Z0-9]+"));
    }

    boolean contains(InetAddress address) {
        byte[] candidate = address.getAddress();
        if (candidate.length != network.length) {
            return false;
        }
        int full = prefix / 8;
        for (int i = 0; i < full; i++) {
            if (candidate[i] != network[i]) {
                return false;
            }
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (candidate[full] & mask) == (network[full] & mask);
    }

    @Override
    public String toString() {
        return text;
    }
}
